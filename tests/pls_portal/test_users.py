"""The staff user model, its roles and the demo logins."""

import pytest
from django.db import IntegrityError

from pls_portal.demo import DEMO_LOGINS, demo_login_lines, demo_users_seed
from pls_portal.models import Role, User
from tests.factories import UserFactory


def test_a_rep_needs_a_rep_type(db):
    with pytest.raises(IntegrityError):
        UserFactory(role=Role.REP, rep_type="")


def test_a_pm_cannot_have_a_rep_type(db):
    with pytest.raises(IntegrityError):
        UserFactory(role=Role.PM, rep_type="ae")


def test_admin_site_access_follows_the_role(db):
    user = UserFactory(pm=True)
    assert not user.is_staff
    user.role, user.rep_type = Role.ADMIN, ""
    user.save()
    user.refresh_from_db()
    assert user.is_staff and user.is_superuser


def test_createsuperuser_makes_an_admin(db):
    user = User.objects.create_superuser("root", "root@example.com", "pw-long-enough-1")
    assert (user.role, user.is_staff) == ("admin", True)


def test_demo_logins_are_one_per_role_and_rep_type_and_idempotent(db):
    demo_users_seed()
    demo_users_seed()
    users = {u.username: (u.role, u.rep_type) for u in User.objects.all()}
    assert users == {
        "admin": ("admin", ""),
        "pm": ("pm", ""),
        "ae": ("rep", "ae"),
        "sdr": ("rep", "sdr"),
    }
    lines = demo_login_lines()
    for login in DEMO_LOGINS:
        assert User.objects.get(username=login.username).check_password(login.password)
        assert any(f"{login.username:<8} password: {login.password}" in line for line in lines)


def test_admin_manages_users_in_django_admin(login, admin_user):
    client = login(admin_user)
    response = client.post(
        "/admin/pls_portal/user/add/",
        {
            "username": "newsdr",
            "email": "newsdr@example.com",
            "first_name": "New",
            "last_name": "Rep",
            "role": "rep",
            "rep_type": "sdr",
            "password1": "a-long-enough-password-1",
            "password2": "a-long-enough-password-1",
            "usable_password": "true",
        },
    )
    assert response.status_code == 302, response.content.decode()[:2000]
    assert User.objects.get(username="newsdr").rep_type == "sdr"


def test_admin_form_explains_a_rep_without_rep_type(login, admin_user):
    client = login(admin_user)
    response = client.post(
        "/admin/pls_portal/user/add/",
        {
            "username": "norep",
            "role": "rep",
            "rep_type": "",
            "password1": "a-long-enough-password-1",
            "password2": "a-long-enough-password-1",
            "usable_password": "true",
        },
    )
    assert response.status_code == 200
    assert "A rep needs a rep type (AE or SDR); other roles have none." in response.content.decode()
    assert not User.objects.filter(username="norep").exists()
