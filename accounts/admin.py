"""Django admin for the raw data of accounts/: plans, the tracking plan, accounts, events,
ingestion keys and what ingestion refused. Daily work happens on the purpose-built pages."""

import ipaddress

from django import forms
from django.contrib import admin, messages
from django.contrib.admin import helpers
from django.db.models import QuerySet
from django.http import HttpRequest
from django.template.response import TemplateResponse
from django.urls import reverse
from django.utils.html import format_html

from accounts.enrichment import network_bounds
from accounts.models import (
    Account,
    AccountDomain,
    AccountGroup,
    Contact,
    Deal,
    Event,
    Firmographic,
    ImportRow,
    IngestionKey,
    IPRange,
    Plan,
    PlanLimit,
    ProductUser,
    RejectedEvent,
    RejectedRequest,
    TrackingPlanEntry,
)
from accounts.services.accounts import AccountChangeError, account_domain_add, account_merge
from accounts.services.keys import ingestion_key_revoke
from accounts.services.reclassify import reclassify_start


class ReadOnlyAdminMixin:
    """Rows written only by ingestion: admins look, never add or edit."""

    def has_add_permission(self, request: HttpRequest, obj=None) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj=None) -> bool:
        return False


class PlanLimitInline(admin.TabularInline):
    model = PlanLimit
    extra = 0
    fields = ("key", "label", "value", "counting_mode")


@admin.register(Plan)
class PlanAdmin(admin.ModelAdmin):
    list_display = ("name", "key", "price_per_seat", "billing_period", "is_paid", "is_trial")
    list_filter = ("is_paid", "is_trial", "billing_period")
    search_fields = ("name", "key")
    ordering = ("position", "key")
    inlines = (PlanLimitInline,)


@admin.register(TrackingPlanEntry)
class TrackingPlanEntryAdmin(admin.ModelAdmin):
    """Each change re-reads past events in the background (a Job), so usage, scores and
    dossiers follow the new meaning, not only events that arrive from now on."""

    list_display = ("name", "match_type", "category", "key", "flag")
    list_filter = ("category", "match_type")
    search_fields = ("name", "key", "description")

    def _reclassify(self, request: HttpRequest) -> None:
        job = reclassify_start(created_by=request.user)
        self.message_user(
            request,
            format_html(
                'Past events are being re-read with the new tracking plan: <a href="{}">'
                "follow the job</a>.",
                reverse("job_detail", kwargs={"job_id": job.pk}),
            ),
            messages.INFO,
        )

    def save_model(self, request: HttpRequest, obj, form, change: bool) -> None:
        super().save_model(request, obj, form, change)
        self._reclassify(request)

    def delete_model(self, request: HttpRequest, obj) -> None:
        super().delete_model(request, obj)
        self._reclassify(request)

    def delete_queryset(self, request: HttpRequest, queryset) -> None:
        super().delete_queryset(request, queryset)
        self._reclassify(request)


class AccountDomainInline(admin.TabularInline):
    # Domains move between accounts only through identity resolution and merges.
    model = AccountDomain
    extra = 0
    fields = ("domain", "is_primary")
    readonly_fields = ("domain", "is_primary")
    can_delete = False

    def has_add_permission(self, request: HttpRequest, obj=None) -> bool:
        return False


class AccountGroupInline(admin.TabularInline):
    model = AccountGroup
    extra = 0
    fields = ("group_id", "name", "created_at")
    readonly_fields = ("group_id", "name", "created_at")
    can_delete = False

    def has_add_permission(self, request: HttpRequest, obj=None) -> bool:
        return False


# Firmographic fields an admin may correct; later sources never overwrite an admin's value.
_ADMIN_SOURCED_FIELDS = ("name", "industry", "employees")


@admin.register(Account)
class AccountAdmin(admin.ModelAdmin):
    list_display = ("name", "domain", "plan", "status", "employees", "arr_potential", "created_at")
    list_filter = ("status", "plan")
    list_select_related = ("plan",)
    search_fields = ("name", "domain")
    readonly_fields = (
        # Domains change with the "Add a domain" action, so AccountDomain stays in step.
        "domain",
        "merged_into",
        "field_sources",
        "checkout_started_at",
        "checkout_completed_at",
        "sales_request_at",
        "usage_changed_at",
        "arr_potential",
        "arr_potential_inputs",
        "owner",
        "updated_at",
    )
    inlines = (AccountDomainInline, AccountGroupInline)
    actions = ("merge_accounts", "add_domain")

    @admin.action(description="Merge the two selected accounts…")
    def merge_accounts(self, request: HttpRequest, queryset: QuerySet[Account]):
        accounts = list(queryset.filter(merged_into__isnull=True)[:3])
        if len(accounts) != 2:
            self.message_user(
                request, "Select exactly two accounts (not merged away) to merge.", messages.ERROR
            )
            return None
        survivor = request.POST.get("survivor")
        if request.POST.get("confirm") and survivor:
            target = next((a for a in accounts if str(a.pk) == survivor), None)
            if target is None:
                self.message_user(request, "Choose which account survives.", messages.ERROR)
                return None
            source = accounts[1] if target is accounts[0] else accounts[0]
            try:
                account_merge(source_id=source.pk, target_id=target.pk)
            except AccountChangeError as error:
                self.message_user(request, str(error), messages.ERROR)
                return None
            self.message_user(
                request,
                f"Merged {source.name} into {target.name}: its events, users, domains and "
                "workspaces moved; usage is re-rolled within seconds.",
                messages.SUCCESS,
            )
            return None
        return TemplateResponse(
            request,
            "admin/accounts/account/merge.html",
            {
                **self.admin_site.each_context(request),
                "title": "Merge two accounts",
                "accounts": accounts,
                "opts": self.model._meta,
                "action_checkbox_name": helpers.ACTION_CHECKBOX_NAME,
            },
        )

    @admin.action(description="Add a domain to the selected account…")
    def add_domain(self, request: HttpRequest, queryset: QuerySet[Account]):
        accounts = list(queryset[:2])
        if len(accounts) != 1:
            self.message_user(request, "Select exactly one account.", messages.ERROR)
            return None
        account = accounts[0]
        error = None
        if request.POST.get("confirm"):
            try:
                row = account_domain_add(
                    account_id=account.pk, domain=request.POST.get("domain", "")
                )
            except AccountChangeError as exc:
                error = str(exc)
            else:
                self.message_user(
                    request,
                    f"{row.domain} now belongs to {account.name}; its users without an account "
                    "joined it.",
                    messages.SUCCESS,
                )
                return None
        return TemplateResponse(
            request,
            "admin/accounts/account/add_domain.html",
            {
                **self.admin_site.each_context(request),
                "title": f"Add a domain to {account.name}",
                "account": account,
                "error": error,
                "value": request.POST.get("domain", ""),
                "opts": self.model._meta,
                "action_checkbox_name": helpers.ACTION_CHECKBOX_NAME,
            },
        )

    def save_model(self, request: HttpRequest, obj: Account, form, change: bool) -> None:
        sources = dict(obj.field_sources or {})
        for field in _ADMIN_SOURCED_FIELDS:
            if field in form.changed_data:
                sources[field] = Account.Source.ADMIN.value
        obj.field_sources = sources
        super().save_model(request, obj, form, change)


@admin.register(ProductUser)
class ProductUserAdmin(admin.ModelAdmin):
    list_display = ("email", "name", "user_id", "account", "is_admin", "last_seen_at")
    list_filter = ("is_admin",)
    list_select_related = ("account",)
    search_fields = ("email", "user_id", "name")
    raw_id_fields = ("account",)
    readonly_fields = ("first_seen_at", "last_seen_at")


@admin.register(Event)
class EventAdmin(ReadOnlyAdminMixin, admin.ModelAdmin):
    list_display = ("type", "name", "category", "key", "account", "user", "timestamp")
    list_filter = ("type", "category")
    list_select_related = ("account", "user")
    raw_id_fields = ("account", "user")
    # Exact message id only: a substring search would scan the whole events table.
    search_fields = ("=message_id",)
    # No date_hierarchy: its year/month links run a DISTINCT over every event.
    show_full_result_count = False

    def has_delete_permission(self, request: HttpRequest, obj=None) -> bool:
        # Rollups and scores are built from events; deleting one silently changes them.
        return False


@admin.register(IngestionKey)
class IngestionKeyAdmin(admin.ModelAdmin):
    """Keys are made with ``manage.py create_write_key`` (the plaintext is shown once);
    here they are named, watched and revoked."""

    list_display = ("name", "prefix", "created_at", "revoked_at", "last_used_at")
    list_select_related = ("created_by",)
    search_fields = ("name", "prefix")
    fields = (
        "name",
        "prefix",
        "key_hash",
        "created_by",
        "created_at",
        "revoked_at",
        "last_used_at",
    )
    readonly_fields = (
        "prefix",
        "key_hash",
        "created_by",
        "created_at",
        "revoked_at",
        "last_used_at",
    )
    actions = ("revoke_keys",)

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    @admin.action(description="Revoke selected keys", permissions=("change",))
    def revoke_keys(self, request: HttpRequest, queryset: QuerySet[IngestionKey]) -> None:
        live = list(queryset.filter(revoked_at__isnull=True).values_list("pk", flat=True))
        for key_id in live:
            ingestion_key_revoke(key_id=key_id)
        self.message_user(
            request,
            f"Revoked {len(live)} key(s); {queryset.count() - len(live)} were already revoked.",
            messages.SUCCESS,
        )


@admin.register(RejectedEvent)
class RejectedEventAdmin(ReadOnlyAdminMixin, admin.ModelAdmin):
    list_display = ("received_at", "source", "reason", "field", "file_name", "line_number", "key")
    list_filter = ("reason", "source")
    list_select_related = ("key",)
    search_fields = ("reason", "field", "file_name")


@admin.register(RejectedRequest)
class RejectedRequestAdmin(ReadOnlyAdminMixin, admin.ModelAdmin):
    list_display = ("received_at", "status", "reason", "field", "path", "key", "remote_addr")
    list_filter = ("status",)
    list_select_related = ("key",)
    search_fields = ("reason", "field")


@admin.register(Deal)
class DealAdmin(admin.ModelAdmin):
    """Deals from every source. Self-serve ones come from checkout events; sales deals
    open and close through the queue (or a CRM import), so here they are read."""

    list_display = (
        "account",
        "name",
        "source",
        "motion",
        "stage",
        "change",
        "arr",
        "currency",
        "opened_at",
        "closed_at",
        "owner",
    )
    list_filter = ("stage", "source", "motion", "change", "currency")
    list_select_related = ("account", "owner", "plan")
    search_fields = ("account__name", "name", "external_id")
    raw_id_fields = ("account", "plan", "owner")
    readonly_fields = ("source_message_id", "created_at", "updated_at")


@admin.register(Contact)
class ContactAdmin(admin.ModelAdmin):
    list_display = ("name", "email", "title", "account", "source", "product_user")
    list_filter = ("source",)
    list_select_related = ("account", "product_user")
    search_fields = ("name", "email", "account__name")
    raw_id_fields = ("account", "product_user")


@admin.register(Firmographic)
class FirmographicAdmin(admin.ModelAdmin):
    """Imported with ``manage.py import_firmographics``; read by the enrichment provider."""

    list_display = ("domain", "company_name", "employees", "industry", "country", "imported_at")
    search_fields = ("domain", "company_name")
    list_filter = ("industry", "country")


class IPRangeForm(forms.ModelForm):
    class Meta:
        model = IPRange
        fields = ("network", "domain", "company")

    def clean_network(self) -> str:
        try:
            network = ipaddress.ip_network(self.cleaned_data["network"].strip(), strict=False)
        except ValueError:
            raise forms.ValidationError(
                "Enter a network in CIDR form, like 203.0.113.0/24 or 2001:db8::/32."
            ) from None
        self.instance.first, self.instance.last = network_bounds(network)
        return str(network)


@admin.register(IPRange)
class IPRangeAdmin(admin.ModelAdmin):
    """Loaded in bulk with ``manage.py import_ip_ranges`` (CIDR, domain, company), or one
    by one here; the range's ends are computed from the CIDR."""

    form = IPRangeForm
    list_display = ("network", "domain", "company")
    search_fields = ("network", "domain", "company")


@admin.register(ImportRow)
class ImportRowAdmin(ReadOnlyAdminMixin, admin.ModelAdmin):
    """Rows of CRM, firmographics and IP-range files that could not be matched or read,
    with their line numbers; delete them once reviewed."""

    list_display = ("file_name", "line_number", "kind", "reason", "created_at")
    list_filter = ("kind", "file_name")
    search_fields = ("reason", "file_name")
