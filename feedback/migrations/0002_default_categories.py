"""The default objection and self-serve blocker categories, in the seeds' words.

Seed 003 ("What product-led sales actually is"): self-serve breaks down when deals exceed
$10,000 ARR, procurement requires security reviews, legal terms or invoicing, several
stakeholders must agree, or enterprise features (SSO, audit logs, SLAs) need
negotiation. Seed 004: self-serve monetisation is capped around $10,000 (card limits);
users are not buyers (the missing buyer). Admins edit the lists afterwards; re-running
only restores the categories it owns.
"""

from django.db import migrations

OBJECTIONS = [
    ("price", "Price too high", "The price or the price model did not fit."),
    ("missing-feature", "Missing feature", "A feature they needed does not exist yet."),
    (
        "security-compliance",
        "Security or compliance",
        "Security review, certifications, data residency.",
    ),
    ("legal-terms", "Legal terms", "Contract, DPA or MSA terms they could not accept."),
    (
        "procurement",
        "Procurement or invoicing",
        "Their buying process: vendor onboarding, purchase orders, invoicing.",
    ),
    ("enterprise-features", "Enterprise features", "SSO, audit logs or an SLA they needed."),
    ("timing", "Timing", "Not now: a freeze, a reorganisation, next quarter."),
    ("no-budget", "No budget", "No budget for it this year."),
    ("chose-competitor", "Chose a competitor", "They bought another product."),
    ("stakeholders", "Stakeholders not aligned", "Several stakeholders had to agree and did not."),
    ("no-buyer", "No buyer found", "Users love it but nobody could buy (the missing buyer)."),
    ("self-serve-enough", "Happy on self-serve", "The team plan already covers what they need."),
]

BLOCKERS = [
    (
        "invoicing",
        "Invoicing or a purchase order",
        "They cannot pay by card: they need an invoice or a PO.",
    ),
    ("security-review", "Security review", "A security questionnaire or review before buying."),
    ("legal-terms", "Legal terms", "Their own contract, DPA or MSA."),
    (
        "enterprise-features",
        "SSO, audit logs or SLA",
        "Enterprise features not sold in self-serve plans.",
    ),
    (
        "card-limit",
        "Above the card checkout limit",
        "The price exceeds what a card checkout allows (about $10,000).",
    ),
    (
        "custom-pricing",
        "Volume or custom pricing",
        "A discount, a custom package or multi-year terms.",
    ),
    (
        "stakeholders",
        "Several stakeholders to convince",
        "A buying committee needed someone to talk to.",
    ),
    ("onboarding", "Onboarding or training help", "They wanted help rolling it out to more teams."),
    (
        "nothing",
        "Nothing: would have bought by itself",
        "The account would have self-served (sales was not needed).",
    ),
]


def create_categories(apps, schema_editor):
    Category = apps.get_model("feedback", "FeedbackCategory")
    for kind, rows in (("objection", OBJECTIONS), ("blocker", BLOCKERS)):
        for position, (key, label, description) in enumerate(rows):
            Category.objects.get_or_create(
                kind=kind,
                key=key,
                defaults={"label": label, "description": description, "position": position * 10},
            )


def remove_categories(apps, schema_editor):
    Category = apps.get_model("feedback", "FeedbackCategory")
    for kind, rows in (("objection", OBJECTIONS), ("blocker", BLOCKERS)):
        Category.objects.filter(kind=kind, key__in=[row[0] for row in rows]).delete()


class Migration(migrations.Migration):
    dependencies = [("feedback", "0001_feedback")]

    operations = [migrations.RunPython(create_categories, remove_categories)]
