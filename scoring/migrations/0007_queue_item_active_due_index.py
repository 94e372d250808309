"""A covering index of the active queue items on PostgreSQL, for the queue's sort of a
pool (``dossiers.selectors.queue_page``): the page's ids and the number of items are
read from the index alone, where the table's rows are kilobytes each (reasons, stored
buyers). At 100,000 accounts the scan went from 3.5 ms to 0.9 ms. SQLite keeps no
covering index (and needs none): it has nothing to do."""

from django.db import migrations

NAME = "queueitem_active_due"


def create(apps, schema_editor):
    if schema_editor.connection.vendor != "postgresql":
        return
    schema_editor.execute(
        f"CREATE INDEX IF NOT EXISTS {NAME} ON scoring_queueitem (due_at) "
        "INCLUDE (id, route, owner_id, claimed_by_id, first_touch_at, score) "
        "WHERE state IN ('open', 'claimed', 'touched')"
    )


def drop(apps, schema_editor):
    if schema_editor.connection.vendor == "postgresql":
        schema_editor.execute(f"DROP INDEX IF EXISTS {NAME}")


class Migration(migrations.Migration):
    dependencies = [("scoring", "0006_accountscore_digest")]

    operations = [migrations.RunPython(create, drop)]
