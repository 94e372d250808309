"""The default tracking plan and price plans, so a fresh install scores Segment data at once.

Segment's B2B SaaS spec events (https://segment.com/docs/connections/spec/b2b-saas/), the
product events a typical B2B SaaS sends, and the pages that show buying intent. Admins edit
all of it afterwards; re-running this migration only restores the rows it owns.
"""

from decimal import Decimal

from django.db import migrations

EVENT = "event"
PAGE = "page"

# (match_type, name, category, key, flag, property_name, description for the sales team)
# fmt: off
TRACKING_PLAN = [
    # Segment B2B SaaS spec.
    (EVENT, "Signed Up", "signup", "", "", "", "A new person signed up: the start of their account's clock."),
    (EVENT, "Signed In", "other", "", "", "", "A person signed in; activity only, no signal by itself."),
    (EVENT, "Signed Out", "other", "", "", "", "A person signed out; activity only, no signal by itself."),
    (EVENT, "Account Created", "milestone", "account_created", "", "", "A new workspace was created: the account exists in the product."),
    (EVENT, "Account Deleted", "other", "", "", "", "A workspace was deleted: check before reaching out."),
    (EVENT, "Invite Sent", "invite_sent", "", "", "", "Someone invited a colleague: the product is spreading inside the company."),
    (EVENT, "Account Added User", "milestone", "teammate_added", "", "", "A teammate joined the account: more seats, more people to talk to."),
    (EVENT, "Account Removed User", "other", "", "", "", "A teammate left the account."),
    (EVENT, "Trial Started", "milestone", "trial_started", "", "", "The account started a trial of a paid plan: it is evaluating."),
    (EVENT, "Trial Ended", "other", "", "", "", "The account's trial ended; look at what it did during the trial."),
    # Product features.
    (EVENT, "Project Created", "feature", "projects", "core", "", "Core feature: someone created a project."),
    (EVENT, "Report Exported", "feature", "export", "core", "", "Core feature: results leave the product, usually for someone else to read."),
    (EVENT, "Dashboard Shared", "feature", "dashboards", "core", "", "Core feature: work shared with colleagues or stakeholders."),
    (EVENT, "Automation Created", "feature", "automations", "core", "", "Core feature: the account builds the product into its processes."),
    (EVENT, "API Key Created", "feature", "api", "core", "", "Core feature: a developer is wiring the product into their systems."),
    (EVENT, "Integration Connected", "feature", "integrations", "integration", "", "An integration was connected: the product is becoming part of the stack."),
    # Onboarding milestones.
    (EVENT, "Onboarding Completed", "milestone", "onboarding_completed", "activation", "", "Onboarding finished: the account is activated."),
    (EVENT, "First Project Created", "milestone", "first_project", "activation", "", "The account's first project: it reached first value."),
    # Limits and paywalls: expansion signals.
    (EVENT, "Limit Reached", "limit_hit", "", "", "limit", "A plan limit was hit; the event's limit property names which one."),
    (EVENT, "Export Limit Reached", "limit_hit", "exports", "", "", "The plan's export limit was hit: they need more than the plan gives."),
    (EVENT, "Seat Limit Reached", "limit_hit", "seats", "", "", "The plan's seat limit was hit: more people want in."),
    (EVENT, "Paywall Hit", "paywall_hit", "", "", "feature", "Someone tried a feature their plan does not include."),
    (EVENT, "Feature Gated", "paywall_hit", "", "", "feature", "Someone was shown a feature their plan does not include."),
    # Buyer intent.
    (EVENT, "SSO Setup Attempted", "buyer_intent", "sso", "", "", "Someone tried to set up SSO: an IT or security buyer is involved."),
    (EVENT, "Audit Log Viewed", "buyer_intent", "audit_log", "", "", "Someone looked at the audit log: compliance questions are coming."),
    (EVENT, "Admin Changed", "buyer_intent", "admin_change", "", "", "The account's admin changed: a new owner, often a budget holder."),
    # Sales requests.
    (EVENT, "Demo Requested", "sales_request", "demo", "", "", "The account asked for a demo: inbound, answer it."),
    (EVENT, "Contact Sales Submitted", "sales_request", "contact_sales", "", "", "The account filled in the contact-sales form: inbound, answer it."),
    # Self-serve buying.
    (EVENT, "Checkout Started", "checkout_started", "", "", "", "The account started a self-serve checkout: do not interrupt it."),
    (EVENT, "Checkout Completed", "checkout_completed", "", "", "revenue", "The account bought by itself; the revenue property is the amount."),
    (EVENT, "Order Completed", "checkout_completed", "", "", "revenue", "The account bought by itself (Segment e-commerce name); revenue is the amount."),
    (EVENT, "Plan Changed", "plan_change", "", "", "", "The account moved to another plan."),
    (EVENT, "Subscription Refunded", "refund", "", "", "revenue", "A payment was refunded; the revenue property is the amount."),
    (EVENT, "Order Refunded", "refund", "", "", "revenue", "A payment was refunded (Segment e-commerce name); revenue is the amount."),
    # Usage metrics, counted against plan limits.
    (EVENT, "API Call Made", "usage_metric", "api_calls", "", "count", "API usage; the count property says how many calls."),
    (EVENT, "Record Created", "usage_metric", "records", "", "count", "Data stored in the product; the count property says how many records."),
    # Pages.
    (PAGE, "/pricing", "buyer_intent", "pricing", "", "", "Someone read the pricing page: a buyer is comparing plans."),
    (PAGE, "/terms", "buyer_intent", "terms", "", "", "Someone read the terms: legal or procurement is looking."),
    (PAGE, "/privacy", "buyer_intent", "privacy", "", "", "Someone read the privacy policy: data protection review under way."),
    (PAGE, "/security", "buyer_intent", "security", "", "", "Someone read the security page: a security review is likely."),
    (PAGE, "/contact-sales", "sales_request", "contact_sales", "", "", "Someone opened the contact-sales page: inbound interest."),
    (PAGE, "/demo", "sales_request", "demo", "", "", "Someone opened the demo-request page: inbound interest."),
    (PAGE, "/checkout", "checkout_started", "", "", "", "Someone opened the checkout page: a self-serve purchase is under way."),
]
# fmt: on

CURRENT = "current"
PER_MONTH = "per_month"

# Limit labels, by key.
LIMIT_LABELS = {
    "seats": "Seats",
    "projects": "Projects",
    "api_calls": "API calls per month",
    "exports": "Exports per month",
    "records": "Records",
}
LIMIT_MODES = {
    "seats": CURRENT,
    "projects": CURRENT,
    "api_calls": PER_MONTH,
    "exports": PER_MONTH,
    "records": CURRENT,
}

TEAM_LIMITS = {
    "seats": 50,
    "projects": 50,
    "api_calls": 100_000,
    "exports": 500,
    "records": 1_000_000,
}

# price_per_seat is per seat per month; billing_period is how often the account is invoiced.
PLANS = [
    {
        "key": "free",
        "name": "Free",
        "price_per_seat": Decimal("0.00"),
        "billing_period": "month",
        "is_paid": False,
        "is_trial": False,
        "limits": {
            "seats": 5,
            "projects": 3,
            "api_calls": 1_000,
            "exports": 10,
            "records": 10_000,
        },
    },
    {
        # The 14-day trial of Team: Team's limits, nothing paid yet.
        "key": "trial",
        "name": "Team trial (14 days)",
        "price_per_seat": Decimal("0.00"),
        "billing_period": "month",
        "is_paid": False,
        "is_trial": True,
        "limits": TEAM_LIMITS,
    },
    {
        "key": "team",
        "name": "Team",
        "price_per_seat": Decimal("12.00"),
        "billing_period": "month",
        "is_paid": True,
        "is_trial": False,
        "limits": TEAM_LIMITS,
    },
    {
        "key": "business",
        "name": "Business",
        "price_per_seat": Decimal("25.00"),
        "billing_period": "month",
        "is_paid": True,
        "is_trial": False,
        "limits": {
            "seats": 500,
            "projects": 1_000,
            "api_calls": 2_000_000,
            "exports": 10_000,
            "records": 20_000_000,
        },
    },
    {
        "key": "enterprise",
        "name": "Enterprise",
        "price_per_seat": Decimal("45.00"),
        "billing_period": "year",
        "is_paid": True,
        "is_trial": False,
        "limits": {
            "seats": 100_000,
            "projects": 100_000,
            "api_calls": 100_000_000,
            "exports": 1_000_000,
            "records": 1_000_000_000,
        },
    },
]


def create_defaults(apps, schema_editor):
    TrackingPlanEntry = apps.get_model("accounts", "TrackingPlanEntry")
    Plan = apps.get_model("accounts", "Plan")
    PlanLimit = apps.get_model("accounts", "PlanLimit")

    for match_type, name, category, key, flag, property_name, description in TRACKING_PLAN:
        TrackingPlanEntry.objects.update_or_create(
            match_type=match_type,
            name=name,
            defaults={
                "category": category,
                "key": key,
                "flag": flag,
                "property_name": property_name,
                "description": description,
            },
        )

    for position, spec in enumerate(PLANS):
        plan, _ = Plan.objects.update_or_create(
            key=spec["key"],
            defaults={
                "name": spec["name"],
                "price_per_seat": spec["price_per_seat"],
                "billing_period": spec["billing_period"],
                "is_paid": spec["is_paid"],
                "is_trial": spec["is_trial"],
                "position": position,
            },
        )
        for limit_key, value in spec["limits"].items():
            PlanLimit.objects.update_or_create(
                plan=plan,
                key=limit_key,
                defaults={
                    "label": LIMIT_LABELS[limit_key],
                    "value": value,
                    "counting_mode": LIMIT_MODES[limit_key],
                },
            )


def delete_defaults(apps, schema_editor):
    TrackingPlanEntry = apps.get_model("accounts", "TrackingPlanEntry")
    Plan = apps.get_model("accounts", "Plan")

    for match_type, name, *_ in TRACKING_PLAN:
        TrackingPlanEntry.objects.filter(match_type=match_type, name=name).delete()
    # Limits go with their plan (CASCADE). A plan still used by an account is protected,
    # so reversing then fails loudly instead of orphaning the account's plan.
    Plan.objects.filter(key__in=[spec["key"] for spec in PLANS]).delete()


class Migration(migrations.Migration):
    dependencies = [
        ("accounts", "0001_initial"),
    ]

    operations = [
        migrations.RunPython(create_defaults, delete_defaults),
    ]
