"""Invites sent and buyer intent by key, per account day, so scoring reads them from the
rollups (never from raw events)."""

from django.db import migrations, models


def touch_rolled_up_days(apps, schema_editor):
    """Queue every rolled-up (account, day) for the next rollup, which fills the new
    columns from the events (one INSERT … SELECT)."""
    account_day = apps.get_model("accounts", "AccountDay")._meta.db_table
    touched_day = apps.get_model("accounts", "TouchedDay")._meta.db_table
    with schema_editor.connection.cursor() as cursor:
        cursor.execute(
            f"INSERT INTO {touched_day} (account_id, day) "  # noqa: S608 (table names only)
            f"SELECT account_id, day FROM {account_day}"
        )


class Migration(migrations.Migration):
    dependencies = [("accounts", "0008_enrichment_and_import_rows")]

    operations = [
        migrations.AddField(
            model_name="accountday",
            name="intent",
            field=models.JSONField(blank=True, default=dict),
        ),
        migrations.AddField(
            model_name="accountday",
            name="invites_sent",
            field=models.PositiveIntegerField(default=0),
        ),
        migrations.RunPython(touch_rolled_up_days, migrations.RunPython.noop),
    ]
