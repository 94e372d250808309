"""A partial index on the events likely buyers read (buyer intent and checkouts, a few
percent of all events): scoring refreshes the buyers of every queue item at each rescore,
and without it that query scans the whole event table."""

from django.db import migrations, models


class Migration(migrations.Migration):
    dependencies = [("accounts", "0009_account_day_invites_and_intent")]

    operations = [
        migrations.AddIndex(
            model_name="event",
            index=models.Index(
                condition=models.Q(
                    category__in=["buyer_intent", "checkout_started", "checkout_completed"]
                ),
                fields=["account", "timestamp"],
                name="event_account_buyer_signal",
            ),
        ),
    ]
