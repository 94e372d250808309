"""The default PQL rule set (version 1, active): the seeds' thresholds of DESIGN.md
"Decisions", so a fresh install scores and routes at once. Admins clone it into a draft
to change it; this migration only ever creates version 1.

Value (deal potential, at most 40 points, high from 20): ARR potential of $25k+, 500+
employees or an ICP domain each make an account high value on their own (seed 002);
buyer intent adds to it. Engagement (at most 60, high from 30): 5+ active users in 30
days (7+ strong, seed 004), 4+ core features (seed 001), 3+ integrations (seed 003),
80 %+ of a limit, active 10+ of the last 14 days (seed 003), 3+ teammates invited and
5+ active days in 30 (seed 002), plus velocity, spread and paywall / limit hits.
"""

from django.db import migrations
from django.utils import timezone

VALUE = "value"
ENGAGEMENT = "engagement"

# (signal, operator, threshold, points, dimension, half-life days, label)
# fmt: off
RULES = [
    ("arr_potential", "gte", 25_000, 20, VALUE, None, "ARR potential"),
    ("employees", "gte", 500, 20, VALUE, None, "Employees"),
    ("icp_domain", "eq", 1, 20, VALUE, None, "On the ICP list"),
    ("arr_potential", "gte", 100_000, 10, VALUE, None, "Large ARR potential"),
    ("icp_industry", "eq", 1, 10, VALUE, None, "ICP industry"),
    ("pricing_views_30", "gte", 2, 5, VALUE, 14, "Viewed pricing"),
    ("security_views_30", "gte", 1, 5, VALUE, 14, "Viewed the security page"),
    ("legal_views_30", "gte", 1, 5, VALUE, 14, "Read the terms or privacy policy"),
    ("sso_audit_30", "gte", 1, 5, VALUE, 14, "Tried SSO or the audit log"),
    ("admin_change_30", "gte", 1, 3, VALUE, 14, "Changed the workspace admin"),
    ("active_users_30", "gte", 5, 12, ENGAGEMENT, None, "Active users, 30 days"),
    ("active_users_30", "gte", 7, 5, ENGAGEMENT, None, "Strong team: active users, 30 days"),
    ("core_features_30", "gte", 4, 10, ENGAGEMENT, None, "Core features used"),
    ("integrations", "gte", 3, 8, ENGAGEMENT, None, "Integrations connected"),
    ("usage_pct", "gte", 80, 10, ENGAGEMENT, 14, "Near a plan limit"),
    ("active_days_14", "gte", 10, 10, ENGAGEMENT, None, "Active days of the last 14"),
    ("invites_30", "gte", 3, 5, ENGAGEMENT, None, "Teammates invited"),
    ("active_days_30", "gte", 5, 5, ENGAGEMENT, None, "Active days of the last 30"),
    ("users_wow_pct", "gte", 50, 5, ENGAGEMENT, 7, "Team growing fast"),
    ("departments_30", "gte", 2, 5, ENGAGEMENT, None, "Departments active"),
    ("paywall_hits_14", "gte", 1, 5, ENGAGEMENT, 7, "Tried features not in the plan"),
    ("limit_hits_14", "gte", 2, 5, ENGAGEMENT, 7, "Hit plan limits"),
    ("idle_days", "gte", 14, -10, ENGAGEMENT, None, "Idle for two weeks or more"),
]
# fmt: on


def create(apps, schema_editor):
    RuleSet = apps.get_model("scoring", "RuleSet")
    Rule = apps.get_model("scoring", "Rule")
    RuleSetAudit = apps.get_model("scoring", "RuleSetAudit")
    if RuleSet.objects.filter(version=1).exists():
        return
    rule_set = RuleSet.objects.create(
        version=1,
        name="Seed defaults",
        description="The seeds' thresholds (DESIGN.md “Decisions”).",
        state="active",
        activated_at=timezone.now(),
    )
    Rule.objects.bulk_create(
        Rule(
            rule_set=rule_set,
            signal=signal,
            operator=operator,
            threshold=threshold,
            points=points,
            dimension=dimension,
            half_life_days=half_life,
            label=label,
            position=position,
        )
        for position, (
            signal,
            operator,
            threshold,
            points,
            dimension,
            half_life,
            label,
        ) in enumerate(RULES)
    )
    RuleSetAudit.objects.create(
        rule_set=rule_set, action="activated", detail="Installed as the default rule set."
    )


def remove(apps, schema_editor):
    apps.get_model("scoring", "RuleSet").objects.filter(version=1).delete()


class Migration(migrations.Migration):
    dependencies = [("scoring", "0001_initial")]

    operations = [migrations.RunPython(create, remove)]
