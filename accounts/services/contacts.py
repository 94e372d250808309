"""Contacts a rep adds by hand: the buyer who never used the product (seed 004, "find the
missing buyer"), so the account's queue item has someone to talk to."""

from __future__ import annotations

from django.core.exceptions import ValidationError
from django.core.validators import validate_email
from django.db import transaction
from django.db.models.functions import Lower
from django.utils import timezone

from accounts.models import Account, Contact, ProductUser
from pls_portal.models import User

NAME_MAX = 200
TITLE_MAX = 200
EMAIL_MAX = 254


def contact_add(*, account_id: int, name: str, email: str, title: str, user: User) -> Contact:
    """Add a known person to an account (source "rep"). Invalid input raises a
    ValidationError whose message dict names the field; nothing is written then.

    The name is required, the email optional but valid and not already a contact of
    the account; an email of one of the account's product users links the contact to
    that user (so the buyer lists show one person, not two)."""
    name, email, title = name.strip(), email.strip().lower(), title.strip()
    errors: dict[str, str] = {}
    if not name:
        errors["name"] = "Name: say who the buyer is."
    elif len(name) > NAME_MAX:
        errors["name"] = f"Name: at most {NAME_MAX} characters (this one has {len(name)})."
    if len(title) > TITLE_MAX:
        errors["title"] = f"Title: at most {TITLE_MAX} characters (this one has {len(title)})."
    if email:
        if len(email) > EMAIL_MAX:
            errors["email"] = f"Email: at most {EMAIL_MAX} characters."
        else:
            try:
                validate_email(email)
            except ValidationError:
                errors["email"] = f"Email: “{email}” is not an email address."
    if errors:
        raise ValidationError(errors)
    with transaction.atomic():
        account = Account.objects.select_for_update().filter(pk=account_id).first()
        if account is None:
            raise ValidationError({"account": "Account: no such account."})
        if account.merged_into_id:
            raise ValidationError(
                {"account": "Account: it was merged into another; add the contact there."}
            )
        if email:
            taken = (
                Contact.objects.annotate(lemail=Lower("email"))
                .filter(account=account, lemail=email)
                .first()
            )
            if taken is not None:
                raise ValidationError(
                    {"email": f"Email: {email} is already a contact of {account.name} ({taken})."}
                )
        product_user = (
            ProductUser.objects.annotate(lemail=Lower("email"))
            .filter(account=account, lemail=email)
            .order_by("pk")
            .first()
            if email
            else None
        )
        who = user.get_full_name() or user.username
        return Contact.objects.create(
            account=account,
            name=name,
            email=email,
            title=title,
            source=Contact.Source.REP,
            product_user=product_user,
            notes=f"Added by {who} on {timezone.now():%Y-%m-%d}.",
        )
