"""The plays pages: the list, a play with a preview against a chosen account, and the
editor (admins) with a live preview. PMs and admins read; only admins create, edit,
activate and deactivate (issue 14: "Admin pages to create and edit plays")."""

from django.contrib import messages
from django.core.exceptions import ValidationError
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.urls import reverse
from django.views.decorators.http import require_GET, require_http_methods, require_POST

from playbooks.conditions import FACTS, OPERATORS, condition_rule
from playbooks.forms import PlayForm, condition_formset
from playbooks.messages import sample_context, variable_names
from playbooks.models import Play
from playbooks.selectors import (
    accounts_search,
    match_state,
    play_detail,
    play_preview,
    play_sample_accounts,
    plays_with_counts,
)
from playbooks.services import play_save, play_set_active
from pls_portal.permissions import admin_required, is_admin, pm_required
from scoring.signals import SIGNALS


def _play(play_id: int) -> Play:
    try:
        return play_detail(play_id=play_id)
    except Play.DoesNotExist:
        raise Http404("No such play.") from None


def _account_id(value) -> int | None:
    try:
        return int(value) if value not in (None, "") else None
    except (TypeError, ValueError):
        return None


@require_GET
@pm_required
def plays(request: HttpRequest) -> HttpResponse:
    """The plays: common PQL situations and their first messages."""
    rows = [
        {"play": play, "rules": [condition_rule(c) for c in play.conditions]}
        for play in plays_with_counts()
    ]
    return render(
        request,
        "playbooks/plays.html",
        {"rows": rows, "state": match_state(), "can_edit": is_admin(request.user)},
    )


@require_GET
@pm_required
def play(request: HttpRequest, play_id: int) -> HttpResponse:
    """One play, read-only, with its first message filled in for a chosen account."""
    current = _play(play_id)
    account_id = _account_id(request.GET.get("account"))
    preview = None
    if account_id is not None:
        preview = play_preview(
            conditions=current.conditions,
            template=current.message_template,
            account_id=account_id,
            rep=request.user,
        )
    context = {"play": current, "preview": preview, "account_id": account_id}
    if request.htmx and account_id is not None:
        return render(request, "playbooks/preview.html#preview", context)
    return render(
        request,
        "playbooks/play.html",
        {
            **context,
            "rules": [condition_rule(c) for c in current.conditions],
            "samples": play_sample_accounts(play_id=current.pk),
            "can_edit": is_admin(request.user),
        },
    )


def _editor(request, *, form, formset, current: Play | None, status: int = 200) -> HttpResponse:
    return render(
        request,
        "playbooks/play_form.html",
        {
            "form": form,
            "formset": formset,
            "play": current,
            "samples": play_sample_accounts(play_id=current.pk) if current else [],
            "variables": variable_names(sample_context()),
            "signals": SIGNALS,
            "facts": FACTS,
            "operators": OPERATORS,
        },
        status=status,
    )


def _save(request, *, current: Play | None) -> HttpResponse:
    form = PlayForm(request.POST, instance=current)
    formset = condition_formset(request.POST)
    if form.is_valid() and formset.is_valid():
        try:
            saved = play_save(
                user=request.user,
                play_id=current.pk if current else None,
                conditions=formset.conditions(),
                **{name: form.cleaned_data[name] for name in PlayForm.Meta.fields},
            )
        except ValidationError as exc:
            for field, errors in exc.message_dict.items():
                if field == "conditions":
                    formset._non_form_errors = formset.error_class(errors)
                else:
                    form.add_error(field if field in form.fields else None, errors)
        else:
            messages.success(request, f"Play “{saved.name}” saved.")
            return redirect(reverse("playbooks:play", args=[saved.pk]))
    return _editor(request, form=form, formset=formset, current=current, status=400)


@require_http_methods(["GET", "POST"])
@admin_required
def play_new(request: HttpRequest) -> HttpResponse:
    if request.method == "POST":
        return _save(request, current=None)
    return _editor(
        request,
        form=PlayForm(initial={"priority": 50, "is_active": True}),
        formset=condition_formset(),
        current=None,
    )


@require_http_methods(["GET", "POST"])
@admin_required
def play_edit(request: HttpRequest, play_id: int) -> HttpResponse:
    current = _play(play_id)
    if request.method == "POST":
        return _save(request, current=current)
    return _editor(
        request,
        form=PlayForm(instance=current),
        formset=condition_formset(conditions=current.conditions),
        current=current,
    )


@require_POST
@admin_required
def play_active(request: HttpRequest, play_id: int) -> HttpResponse:
    """Activate or deactivate a play; every account is re-matched in the background."""
    current = _play(play_id)
    active = request.POST.get("active") == "1"
    play_set_active(play_id=current.pk, active=active, user=request.user)
    state = "activated" if active else "deactivated"
    messages.success(request, f"Play “{current.name}” {state}; accounts are being re-matched.")
    return redirect(reverse("playbooks:plays"))


@require_POST
@admin_required
def play_preview_view(request: HttpRequest) -> HttpResponse:
    """The editor's live preview: the unsaved conditions and template against the chosen
    account. Always 200 (htmx swaps it): errors are the preview's content."""
    formset = condition_formset(request.POST)
    conditions, problems = [], []
    if formset.is_bound and formset.management_form.is_valid():
        for form in formset.forms:
            if not form.is_valid():
                problems.extend(str(e) for errors in form.errors.values() for e in errors)
            elif form.cleaned_data.get("condition") and not form.cleaned_data.get("DELETE"):
                conditions.append(form.cleaned_data["condition"])
    account_id = _account_id(request.POST.get("preview_account"))
    preview = None
    if account_id is not None:
        preview = play_preview(
            conditions=conditions,
            template=request.POST.get("message_template", ""),
            account_id=account_id,
            rep=request.user,
        )
    return render(
        request,
        "playbooks/preview.html#preview",
        {"preview": preview, "account_id": account_id, "problems": problems, "editing": True},
    )


@require_GET
@pm_required
def account_search(request: HttpRequest) -> HttpResponse:
    """Accounts by name or domain, to preview a play against (an htmx fragment)."""
    play_id = _account_id(request.GET.get("play"))
    return render(
        request,
        "playbooks/preview.html#account-results",
        {
            "choices": accounts_search(q=request.GET.get("q", "")),
            "q": request.GET.get("q", ""),
            "play_id": play_id,
        },
    )
