"""The rule editor: rule sets, their rules and settings, propose and activate.

PMs and admins draft, edit and propose (PMs own the PQL definition, seed 000); only
admins activate, which archives the old set and starts a full rescore Job.
"""

from django.contrib import messages
from django.core.exceptions import ValidationError
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.urls import reverse
from django.views.decorators.http import require_GET, require_http_methods, require_POST

from pls_portal.permissions import admin_required, pm_required
from scoring.forms import RuleForm, RuleSetSettingsForm
from scoring.models import Rule, RuleSet
from scoring.selectors import rule_set_detail, rule_sets
from scoring.services.rulesets import (
    RULE_FIELDS,
    SETTING_FIELDS,
    RuleSetError,
    rule_delete,
    rule_save,
    rule_set_activate,
    rule_set_clone,
    rule_set_delete,
    rule_set_propose,
    rule_set_update,
    rule_set_withdraw,
)
from scoring.services.run import rescore_start
from scoring.signals import SIGNALS


def _rule_set(rule_set_id: int) -> RuleSet:
    try:
        return rule_set_detail(rule_set_id=rule_set_id)
    except RuleSet.DoesNotExist:
        raise Http404("No such rule set.") from None


def _detail_url(rule_set_id: int) -> str:
    return reverse("scoring:rule_set", args=[rule_set_id])


@require_GET
@pm_required
def rules(request: HttpRequest) -> HttpResponse:
    """PQL rule sets: PMs draft, backtest and propose; admins activate."""
    sets = list(rule_sets())
    active = next((s for s in sets if s.state == RuleSet.State.ACTIVE), None)
    return render(request, "scoring/rules.html", {"rule_sets": sets, "active": active})


@require_GET
@pm_required
def rule_set(request: HttpRequest, rule_set_id: int) -> HttpResponse:
    current = _rule_set(rule_set_id)
    return render(request, "scoring/rule_set.html", _detail_context(current))


def _detail_context(current: RuleSet, **extra) -> dict:
    return {
        "rule_set": current,
        "settings_form": extra.pop("settings_form", None)
        or RuleSetSettingsForm(instance=current, prefix="settings"),
        "rule_form": extra.pop("rule_form", None) or RuleForm(prefix="new"),
        "signals": SIGNALS,
        **extra,
    }


@require_POST
@pm_required
def rule_set_clone_view(request: HttpRequest, rule_set_id: int) -> HttpResponse:
    source = _rule_set(rule_set_id)
    draft = rule_set_clone(rule_set_id=source.pk, user=request.user)
    messages.success(request, f"Draft v{draft.version} created from v{source.version}.")
    return redirect(_detail_url(draft.pk))


def _form_error(form, exc: ValidationError) -> None:
    for field, errors in exc.message_dict.items():
        form.add_error(field if field in form.fields else None, errors)


@require_POST
@pm_required
def rule_set_settings(request: HttpRequest, rule_set_id: int) -> HttpResponse:
    current = _rule_set(rule_set_id)
    form = RuleSetSettingsForm(request.POST, instance=RuleSet(pk=current.pk), prefix="settings")
    if form.is_valid():
        changes = {
            name: form.cleaned_data[name] for name in ("name", "description", *SETTING_FIELDS)
        }
        try:
            rule_set_update(rule_set_id=current.pk, user=request.user, **changes)
        except RuleSetError as exc:
            messages.error(request, str(exc))
            return redirect(_detail_url(current.pk))
        except ValidationError as exc:
            _form_error(form, exc)
        else:
            messages.success(request, "Settings saved.")
            return redirect(_detail_url(current.pk))
    return render(
        request,
        "scoring/rule_set.html",
        _detail_context(_rule_set(current.pk), settings_form=form),
        status=400,
    )


def _rule_values(form: RuleForm) -> dict:
    return {name: form.cleaned_data[name] for name in RULE_FIELDS if name in form.cleaned_data}


@require_POST
@pm_required
def rule_add(request: HttpRequest, rule_set_id: int) -> HttpResponse:
    current = _rule_set(rule_set_id)
    form = RuleForm(request.POST, prefix="new")
    if form.is_valid():
        try:
            rule_save(rule_set_id=current.pk, user=request.user, **_rule_values(form))
        except RuleSetError as exc:
            messages.error(request, str(exc))
            return redirect(_detail_url(current.pk))
        except ValidationError as exc:
            _form_error(form, exc)
        else:
            messages.success(request, "Rule added.")
            return redirect(_detail_url(current.pk) + "#rules")
    return render(
        request,
        "scoring/rule_set.html",
        _detail_context(_rule_set(current.pk), rule_form=form),
        status=400,
    )


def _rule(current: RuleSet, rule_id: int) -> Rule:
    rule = next((r for r in current.rules.all() if r.pk == rule_id), None)
    if rule is None:
        raise Http404("No such rule in this rule set.")
    return rule


@require_http_methods(["GET", "POST"])
@pm_required
def rule_edit(request: HttpRequest, rule_set_id: int, rule_id: int) -> HttpResponse:
    """Inline edit of one rule (htmx swaps the table row)."""
    current = _rule_set(rule_set_id)
    rule = _rule(current, rule_id)
    prefix = f"rule-{rule.pk}"
    if request.method == "GET":
        if request.GET.get("cancel"):
            return render(
                request, "scoring/rule_set.html#rule-row", {"rule": rule, "rule_set": current}
            )
        form = RuleForm(instance=rule, prefix=prefix)
        return render(
            request,
            "scoring/rule_set.html#rule-form-row",
            {"rule": rule, "rule_set": current, "form": form},
        )
    form = RuleForm(request.POST, instance=Rule(pk=rule.pk), prefix=prefix)
    error = ""
    if form.is_valid():
        try:
            rule = rule_save(
                rule_set_id=current.pk, user=request.user, rule_id=rule.pk, **_rule_values(form)
            )
        except RuleSetError as exc:
            error = str(exc)
        except ValidationError as exc:
            _form_error(form, exc)
        else:
            if request.htmx:
                return render(
                    request, "scoring/rule_set.html#rule-row", {"rule": rule, "rule_set": current}
                )
            messages.success(request, "Rule saved.")
            return redirect(_detail_url(current.pk) + "#rules")
    if not request.htmx:
        messages.error(request, error or "The rule was not saved: check the fields.")
        return redirect(_detail_url(current.pk) + "#rules")
    return render(
        request,
        "scoring/rule_set.html#rule-form-row",
        {"rule": rule, "rule_set": current, "form": form, "error": error},
        status=400,
    )


@require_POST
@pm_required
def rule_delete_view(request: HttpRequest, rule_set_id: int, rule_id: int) -> HttpResponse:
    current = _rule_set(rule_set_id)
    rule = _rule(current, rule_id)
    try:
        rule_delete(rule_set_id=current.pk, user=request.user, rule_id=rule.pk)
    except RuleSetError as exc:
        messages.error(request, str(exc))
    else:
        messages.success(request, f"Rule removed: {rule}.")
    return redirect(_detail_url(current.pk) + "#rules")


@require_POST
@pm_required
def rule_set_propose_view(request: HttpRequest, rule_set_id: int) -> HttpResponse:
    current = _rule_set(rule_set_id)
    try:
        rule_set_propose(rule_set_id=current.pk, user=request.user)
    except RuleSetError as exc:
        messages.error(request, str(exc))
    else:
        messages.success(request, f"v{current.version} proposed: an admin can now activate it.")
    return redirect(_detail_url(current.pk))


@require_POST
@pm_required
def rule_set_withdraw_view(request: HttpRequest, rule_set_id: int) -> HttpResponse:
    current = _rule_set(rule_set_id)
    try:
        rule_set_withdraw(rule_set_id=current.pk, user=request.user)
    except RuleSetError as exc:
        messages.error(request, str(exc))
    else:
        messages.success(request, f"v{current.version} is a draft again.")
    return redirect(_detail_url(current.pk))


@require_POST
@pm_required
def rule_set_delete_view(request: HttpRequest, rule_set_id: int) -> HttpResponse:
    current = _rule_set(rule_set_id)
    try:
        rule_set_delete(rule_set_id=current.pk, user=request.user)
    except RuleSetError as exc:
        messages.error(request, str(exc))
        return redirect(_detail_url(current.pk))
    messages.success(request, f"Draft v{current.version} deleted.")
    return redirect("scoring:rules")


@require_http_methods(["GET", "POST"])
@admin_required
def rule_set_activate_view(request: HttpRequest, rule_set_id: int) -> HttpResponse:
    """GET: what activating changes, and a confirmation. POST: activate, then a full
    rescore Job whose progress the next page shows."""
    current = _rule_set(rule_set_id)
    if request.method == "GET":
        active = RuleSet.objects.filter(state=RuleSet.State.ACTIVE).first()
        return render(request, "scoring/activate.html", {"rule_set": current, "active": active})
    try:
        activation = rule_set_activate(rule_set_id=current.pk, user=request.user)
    except RuleSetError as exc:
        messages.error(request, str(exc))
        return redirect(_detail_url(current.pk))
    job = rescore_start(
        user=request.user,
        reason=f"Rescoring every account with v{activation.rule_set.version}",
    )
    messages.success(
        request,
        f"v{activation.rule_set.version} is active"
        + (f" (v{activation.previous.version} archived)" if activation.previous else "")
        + ": every account is being rescored.",
    )
    return redirect("job_detail", job_id=job.pk)


@require_POST
@admin_required
def rescore_all(request: HttpRequest) -> HttpResponse:
    job = rescore_start(user=request.user, reason="Rescoring every account (started by an admin)")
    return redirect("job_detail", job_id=job.pk)
