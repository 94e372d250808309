"""factory-boy factories for every model the tests build."""

import factory
from django.contrib.auth.hashers import make_password
from django.utils import timezone

from accounts.models import Account, AccountDomain, Event, Plan, ProductUser
from pls_portal.models import Job, RepType, Role, User

TEST_PASSWORD = "correct-horse-battery-staple"
# Hashing once keeps user creation fast; every factory user shares this password.
_TEST_PASSWORD_HASH = make_password(TEST_PASSWORD)


class UserFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = User
        django_get_or_create = ("username",)

    username = factory.Sequence(lambda n: f"user{n}")
    first_name = factory.Faker("first_name")
    last_name = factory.Faker("last_name")
    email = factory.LazyAttribute(lambda u: f"{u.username}@example.com")
    role = Role.REP
    rep_type = RepType.AE
    password = _TEST_PASSWORD_HASH

    class Params:
        ae = factory.Trait(role=Role.REP, rep_type=RepType.AE)
        sdr = factory.Trait(role=Role.REP, rep_type=RepType.SDR)
        pm = factory.Trait(role=Role.PM, rep_type="")
        admin = factory.Trait(role=Role.ADMIN, rep_type="")


class JobFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Job

    kind = "maintenance"
    created_by = factory.SubFactory(UserFactory, admin=True)


# --- accounts -------------------------------------------------------------------------


class PlanFactory(factory.django.DjangoModelFactory):
    """A price plan; the migration's plans (free, trial, team…) are reused by key."""

    class Meta:
        model = Plan
        django_get_or_create = ("key",)

    key = factory.Sequence(lambda n: f"plan-{n}")
    name = factory.LazyAttribute(lambda p: p.key.replace("-", " ").title())


class AccountFactory(factory.django.DjangoModelFactory):
    """A company account owning its primary domain (an AccountDomain row), as identity
    resolution would have made it."""

    class Meta:
        model = Account
        skip_postgeneration_save = True

    name = factory.Sequence(lambda n: f"Company {n}")
    domain = factory.Sequence(lambda n: f"company{n}.com")
    created_at = factory.LazyFunction(timezone.now)

    @factory.post_generation
    def primary_domain(obj, create, extracted, **kwargs):
        if create and obj.domain:
            AccountDomain.objects.create(account=obj, domain=obj.domain, is_primary=True)


class ProductUserFactory(factory.django.DjangoModelFactory):
    """A product user with an email on their account's domain (free mail without one)."""

    class Meta:
        model = ProductUser

    account = factory.SubFactory(AccountFactory)
    user_id = factory.Sequence(lambda n: f"user-{n}")
    email = factory.LazyAttributeSequence(
        lambda u, n: f"person{n}@{u.account.domain if u.account else 'gmail.com'}"
    )
    name = factory.Faker("name")
    first_seen_at = factory.LazyFunction(timezone.now)
    last_seen_at = factory.LazyAttribute(lambda u: u.first_seen_at)


class EventFactory(factory.django.DjangoModelFactory):
    """A stored track event, classified as the default tracking plan reads "Project
    Created"; pass category and key along when you change the name."""

    class Meta:
        model = Event

    message_id = factory.Sequence(lambda n: f"msg-{n}")
    type = Event.Type.TRACK
    name = "Project Created"
    user = factory.SubFactory(ProductUserFactory)
    account = factory.LazyAttribute(lambda e: e.user.account if e.user else None)
    timestamp = factory.LazyFunction(timezone.now)
    received_at = factory.LazyFunction(timezone.now)
    category = "feature"
    key = "projects"
