"""The default plays, from the seeds' common PQL situations (seed 002 "Expansion
playbooks", seed 003 "The PQL dossier" and "land and expand", seed 004 PQA signals).

Each has a situation, a recommended approach and a first message that uses the
account's own numbers (seed 003: "the good message demonstrates that the rep has
context"). Admins edit them afterwards; re-running only restores the plays it owns.
"""

from django.db import migrations

SIGN_OFF = "\n\n{{ rep.first_name }}"
HI = 'Hi {{ buyer.first_name or "there" }},\n\n'

PLAYS = [
    {
        "key": "asked-for-a-demo",
        "name": "Asked for a demo",
        "priority": 95,
        "situation": (
            "The account asked for a demo or contact with sales in the last 30 days. It is "
            "inbound, not a PQL: answer it within the AE SLA (seeds 001, 002)."
        ),
        "conditions": [{"signal": "sales_request_days", "operator": "lte", "threshold": 30}],
        "approach": (
            "Answer within 24 hours. They have used the product, so skip the generic demo: "
            "start from what they already do and ask what they want to see."
        ),
        "message_template": HI
        + "Thanks for reaching out about a demo. I can see {{ account.name }} already has "
        "{{ usage.active_users_30 }} active users{% if usage.features_used %} working with "
        "{{ usage.features_used }} core features{% endif %}, so I won't walk you through the "
        "basics.\nWhat would you like to see: {% if usage.integrations %}more integrations "
        "beyond your {{ usage.integrations }}, {% endif %}admin and security controls, or "
        "pricing for the whole team? I have time this week." + SIGN_OFF,
    },
    {
        "key": "limit-hit-twice-this-week",
        "name": "A limit hit twice this week",
        "priority": 80,
        "situation": (
            "The account hit a plan limit at least twice in the last 7 days: they need more "
            "than the plan gives (seed 002: \u201creached export limit twice this week\u201d)."
        ),
        "conditions": [
            {"signal": "limit_hits", "key": "", "days": 7, "operator": "gte", "threshold": 2}
        ],
        "approach": (
            "Name the limit they hit and offer the plan that lifts it, priced for their team "
            "size. Don't sell features they haven't asked for."
        ),
        "message_template": HI
        + "I noticed {{ account.name }} hit the {{ usage.top_limit_label|lower }} limit "
        "{{ usage.top_limit_hits }} time{{ 's' if usage.top_limit_hits != 1 else '' }} this "
        "week. That usually means the {{ account.plan }} plan is holding your team back.\n"
        "I can lift that limit today: {% if account.plan_key in ['free', 'trial'] %}the Team "
        "plan{% else %}a plan with custom limits{% endif %} covers your "
        "{{ usage.active_users_30 }} active users with room to grow. Want me to send the "
        "numbers?" + SIGN_OFF,
    },
    {
        "key": "features-tried-not-in-plan",
        "name": "Features tried but not in the plan",
        "priority": 75,
        "situation": (
            "People hit the paywall twice or more in 14 days: they tried features their plan "
            "does not include, an expansion signal (seed 003, \u201cExpansion signals\u201d)."
        ),
        "conditions": [{"signal": "paywall_hits_14", "operator": "gte", "threshold": 2}],
        "approach": (
            "Offer a trial of the plan that has the feature they tried, so they can finish "
            "what they started. Lead with their use case, not the plan's feature list."
        ),
        "message_template": HI
        + "I noticed your team tried features that aren't in the {{ account.plan }} plan "
        "{{ usage.paywall_hits_14 }} times in the last two weeks.\nI can turn them on for a "
        "14-day trial so you can finish what you started, and then we can see whether the "
        "upgrade is worth it for your {{ usage.active_users_30 }} active users.\n\n"
        "Shall I switch it on?" + SIGN_OFF,
    },
    {
        "key": "expansion-new-department",
        "name": "Expansion into a new department",
        "priority": 70,
        "situation": (
            "A customer won by sales has a department active now that was not active at the "
            "win: the product is spreading (seed 003, land and expand: \u201cGrow\u201d)."
        ),
        "conditions": [{"signal": "departments_new", "operator": "gte", "threshold": 1}],
        "approach": (
            "Talk to the account's owner first; then offer the new team onboarding and bring "
            "them under the existing agreement rather than a separate one."
        ),
        "message_template": HI
        + "Good news from {{ account.name }}: people from {{ usage.departments_30 }} "
        "departments use the product now, {{ usage.departments_new }} more than when we "
        "started working together.\nI'd like to help the new team get going: an onboarding "
        "session, and adding them to your existing agreement rather than a separate one. "
        "Who should I talk to there?" + SIGN_OFF,
    },
    {
        "key": "five-users-on-free-plan",
        "name": "5+ users on the free plan",
        "priority": 65,
        "situation": (
            "Five or more people work in the product on the free plan: it has spread past one "
            "person and the free seats run out soon (seed 002: \u201cteam size is 5+ but on "
            "free plan\u201d)."
        ),
        "conditions": [
            {"signal": "active_users_30", "operator": "gte", "threshold": 5},
            {"signal": "plan", "operator": "in", "values": ["free"]},
        ],
        "approach": (
            "Reach the person who can buy for the team, not every user. Lead with what the "
            "team already does together and offer a Team trial with the seats they need."
        ),
        "message_template": HI
        + "I saw {{ usage.active_users_30 }} people at {{ account.name }} working in the "
        "product this month{% if usage.features_used %}, across {{ usage.features_used }} "
        "core features{% endif %}, all on the {{ account.plan }} plan.\nTeams that size "
        "usually outgrow the free seats quickly. I can set you up with a Team trial for "
        "everyone, with shared workspaces and admin controls, so nobody gets locked out.\n\n"
        "Want me to set it up?" + SIGN_OFF,
    },
    {
        "key": "team-growing-fast",
        "name": "Team growing fast",
        "priority": 60,
        "situation": (
            "Active users rose 50 % or more week over week, with at least 4 active this week: "
            "a sudden change in the rate of users added predicts sales readiness (seed 004, "
            "velocity)."
        ),
        "conditions": [
            {"signal": "users_wow_pct", "operator": "gte", "threshold": 50},
            {"signal": "active_users_7", "operator": "gte", "threshold": 4},
        ],
        "approach": (
            "Ask what changed (a new project, a new team?) and offer to make the roll-out "
            "easy: workspace set-up, admin controls, a plan that scales with seats."
        ),
        "message_template": HI
        + "The {{ account.name }} team is growing fast: {{ usage.active_users_7 }} people used "
        "the product this week, up {{ signals.users_wow_pct }} % on the week before.\nWhen a "
        "roll-out picks up like this, teams usually want shared workspaces, admin controls "
        "and one invoice. Happy to help you set that up. What's driving the growth?" + SIGN_OFF,
    },
    {
        "key": "repeated-pricing-visits",
        "name": "Repeated pricing visits",
        "priority": 55,
        "situation": (
            "People at the account viewed the pricing page 3 or more times in 30 days: a "
            "buyer is comparing plans (seed 004, behavioural signals)."
        ),
        "conditions": [{"signal": "pricing_views_30", "operator": "gte", "threshold": 3}],
        "approach": (
            "Answer the question they haven't asked yet: the plan that fits their usage and "
            "what it costs for their team. Offer a quote, not a demo."
        ),
        "message_template": HI + "It looks like your team has been looking at our pricing "
        "({{ signals.pricing_views_30 }} visits this month). With "
        "{{ usage.active_users_30 }} active users on the {{ account.plan }} plan"
        "{% if usage.usage_pct >= 80 %} and {{ usage.usage_pct }} % of a plan limit used"
        "{% endif %}, I can put together a quote for exactly what you use, so you don't have "
        "to work it out from the page.\n\nWant me to send one over?" + SIGN_OFF,
    },
    {
        "key": "api-key-no-integration",
        "name": "API key created but no integration",
        "priority": 50,
        "situation": (
            "Someone created an API key in the last 30 days and no integration is connected: "
            "a developer is wiring the product in and may be stuck (seed 002: \u201cactivated "
            "API but no integration built\u201d)."
        ),
        "conditions": [
            {"signal": "api_key_30", "operator": "gte", "threshold": 1},
            {"signal": "integrations", "operator": "eq", "threshold": 0},
        ],
        "approach": (
            "Offer technical help first (a solutions engineer, docs for their stack), not a "
            "price. The integration is what makes the product stick; the commercial talk "
            "follows once it runs."
        ),
        "message_template": HI
        + "I saw the {{ account.name }} team created {{ signals.api_key_30 }} API "
        "key{{ 's' if signals.api_key_30 != 1 else '' }} in the last 30 days, but no "
        "integration is connected yet. The first one is where most teams get stuck.\nWould "
        "a 20-minute session with one of our solutions engineers help? We can look at your "
        "stack together and get it running." + SIGN_OFF,
    },
    {
        "key": "enterprise-domain-signed-up",
        "name": "Enterprise domain signed up",
        "priority": 45,
        "situation": (
            "A company with 1,000+ employees signed up in the last 30 days: there is likely "
            "budget for an enterprise plan, and they won't buy through a self-serve checkout "
            "(seed 003, \u201cEnterprise demand\u201d)."
        ),
        "conditions": [
            {"signal": "employees", "operator": "gte", "threshold": 1000},
            {"signal": "account_age_days", "operator": "lte", "threshold": 30},
        ],
        "approach": (
            "Don't pitch while usage is thin: help the team reach value, find out who owns "
            "the evaluation, and offer what an enterprise needs to buy (security review, SSO, "
            "invoicing)."
        ),
        "message_template": HI + "Welcome aboard: I saw {{ usage.active_users_30 }} "
        "{{ 'person' if usage.active_users_30 == 1 else 'people' }} from {{ account.name }} "
        "started using the product in the last {{ account.age_days }} days.\nCompanies of "
        "your size ({{ account.employees }} employees) usually need a security review, SSO "
        "and invoicing before a roll-out. I can help with all three whenever you're ready."
        + SIGN_OFF,
    },
]


def create_plays(apps, schema_editor):
    Play = apps.get_model("playbooks", "Play")
    for spec in PLAYS:
        Play.objects.get_or_create(key=spec["key"], defaults={**spec, "is_active": True})


def remove_plays(apps, schema_editor):
    Play = apps.get_model("playbooks", "Play")
    Play.objects.filter(key__in=[spec["key"] for spec in PLAYS]).delete()


class Migration(migrations.Migration):
    dependencies = [("playbooks", "0002_match_state")]

    operations = [migrations.RunPython(create_plays, remove_plays)]
