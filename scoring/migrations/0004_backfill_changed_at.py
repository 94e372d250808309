"""Rows scored before ``changed_at`` existed take their ``scored_at``, so play matching
does not re-read them on every run."""

from django.db import migrations
from django.db.models import F


def backfill(apps, schema_editor):
    apps.get_model("scoring", "AccountScore").objects.filter(changed_at__isnull=True).update(
        changed_at=F("scored_at")
    )


class Migration(migrations.Migration):
    dependencies = [("scoring", "0003_account_score_changed_at")]

    operations = [migrations.RunPython(backfill, migrations.RunPython.noop)]
