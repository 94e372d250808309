"""factory-boy factories for every model the tests build."""

import factory
from django.contrib.auth.hashers import make_password

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
