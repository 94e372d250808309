"""Admin changes to accounts: add a domain, merge two accounts, hand-edit fields."""

from __future__ import annotations

from django.db import transaction
from django.db.models import Q

from accounts.domains import company_domain, registrable_domain
from accounts.models import (
    Account,
    AccountDay,
    AccountDomain,
    AccountFeatureDay,
    AccountGroup,
    AccountUserDay,
    Contact,
    Deal,
    Event,
    ProductUser,
    TouchedDay,
)
from accounts.services.identity import account_set_fields, utc_days


class AccountChangeError(Exception):
    """An admin change that cannot be made; the message says why, for the page."""


GUARD_FIELDS = ("checkout_started_at", "checkout_completed_at", "sales_request_at")


def _touch(account_id: int, events) -> None:
    TouchedDay.objects.bulk_create(
        [TouchedDay(account_id=account_id, day=day) for day in utc_days(events)]
    )


def account_domain_add(*, account_id: int, domain: str) -> AccountDomain:
    """Give an account one more company domain. Users with that email domain who have
    no account yet join it, with their earlier events (their days are re-rolled)."""
    value = registrable_domain(domain)
    if value is None:
        raise AccountChangeError(f"“{domain}” is not a company domain (like acme.com).")
    if company_domain(value) is None:
        raise AccountChangeError(f"{value} is a free-mail domain; it cannot identify a company.")
    with transaction.atomic():
        account = Account.objects.select_for_update().get(pk=account_id)
        if account.merged_into_id:
            raise AccountChangeError("This account was merged away; change the one it joined.")
        owner = AccountDomain.objects.filter(domain=value).select_related("account").first()
        if owner is not None:
            if owner.account_id == account.pk:
                raise AccountChangeError(f"{value} already belongs to this account.")
            raise AccountChangeError(
                f"{value} belongs to {owner.account.name}; merge the two accounts instead."
            )
        row = AccountDomain.objects.create(
            account=account, domain=value, is_primary=not account.domain
        )
        if not account.domain:
            account.domain = value
            account.save(update_fields=["domain", "updated_at"])
        joining = ProductUser.objects.filter(account__isnull=True).filter(
            Q(email__iendswith=f"@{value}") | Q(email__iendswith=f".{value}")
        )
        events = Event.objects.filter(user__in=joining, account__isnull=True)
        _touch(account.pk, events)
        events.update(account=account)
        joining.update(account=account)
    return row


def account_merge(*, source_id: int, target_id: int) -> Account:
    """Merge ``source`` into ``target``: events, users, domains, group ids, deals,
    contacts and guard timestamps move; the source is kept with ``merged_into`` so rows
    of other apps that point at it stay valid. Nothing is lost; the rollups of both are
    rebuilt."""
    if source_id == target_id:
        raise AccountChangeError("An account cannot be merged into itself.")
    with transaction.atomic():
        accounts = Account.objects.select_for_update().in_bulk([source_id, target_id])
        source, target = accounts[source_id], accounts[target_id]
        if source.merged_into_id:
            raise AccountChangeError(f"{source.name} was already merged away.")
        if target.merged_into_id:
            raise AccountChangeError(f"{target.name} was merged away; merge into the survivor.")

        events = Event.objects.filter(account=source)
        _touch(target.pk, events)
        events.update(account=target)
        ProductUser.objects.filter(account=source).update(account=target)
        AccountDomain.objects.filter(account=source).update(account=target, is_primary=False)
        AccountGroup.objects.filter(account=source).update(account=target)
        Deal.objects.filter(account=source).update(account=target)
        Contact.objects.filter(account=source).update(account=target)
        TouchedDay.objects.filter(account=source).update(account=target)
        for model in (AccountDay, AccountUserDay, AccountFeatureDay):
            model.objects.filter(account=source).delete()

        for name in GUARD_FIELDS:
            mine, theirs = getattr(target, name), getattr(source, name)
            if theirs and (mine is None or theirs > mine):
                setattr(target, name, theirs)
        target.created_at = min(target.created_at, source.created_at)
        # The survivor keeps its own values; the source only fills what it lacks.
        missing = {
            name: getattr(source, name)
            for name in ("industry", "employees", "plan")
            if getattr(target, name) in (None, "")
        }
        for name, value in missing.items():
            setattr(target, name, value)
            if name in (source.field_sources or {}):
                target.field_sources = {
                    **target.field_sources,
                    name: source.field_sources[name],
                }
        target.save()
        source.merged_into = target
        source.save(update_fields=["merged_into", "updated_at"])
    return target


def account_edit(*, account_id: int, values: dict) -> Account:
    """An admin's hand edit: recorded as the admin's, so later sources never overwrite it."""
    with transaction.atomic():
        account = Account.objects.select_for_update().get(pk=account_id)
        if account_set_fields(account, values, source=Account.Source.ADMIN):
            account.save()
    return account
