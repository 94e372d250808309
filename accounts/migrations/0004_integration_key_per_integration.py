"""“Integration Connected” reads its ``integration`` property, so each integration is its
own feature key (integrations:slack) and “3+ integrations” can be counted."""

from django.db import migrations


def forwards(apps, schema_editor):
    entry = apps.get_model("accounts", "TrackingPlanEntry")
    entry.objects.filter(match_type="event", name="Integration Connected").update(
        property_name="integration"
    )


def backwards(apps, schema_editor):
    entry = apps.get_model("accounts", "TrackingPlanEntry")
    entry.objects.filter(match_type="event", name="Integration Connected").update(property_name="")


class Migration(migrations.Migration):
    dependencies = [("accounts", "0003_event_classification_touched_days")]

    operations = [migrations.RunPython(forwards, backwards)]
