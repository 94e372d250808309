"""The dossier page and its actions: log a touch, record a response, add a contact, hand
an item with no buyer to marketing. Actions answer htmx with the re-rendered partial
(invalid input: the partial with the messages, 400; someone else holds the item: 409)
and plain form posts with a redirect back to the dossier."""

from __future__ import annotations

from django import forms
from django.contrib import messages
from django.core.exceptions import ValidationError
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.template.loader import render_to_string
from django.urls import reverse
from django.utils import timezone
from django.utils.safestring import mark_safe
from django.views.decorators.http import require_GET, require_POST
from django_htmx.http import HttpResponseClientRefresh

from accounts.services.contacts import contact_add
from dossiers.dossier.parts import page_get, people_part
from dossiers.dossier.scope import (
    DossierNotFound,
    DossierScope,
    dossier_scope,
    item_dict,
    item_in_scope,
    touch_in_scope,
)
from dossiers.dossier.timeline import timeline_get
from dossiers.dossier.touch_log import touch_log_get
from pls_portal.models import Role
from pls_portal.permissions import rep_required, role_required
from scoring.models import Touch
from scoring.services.queue import (
    AlreadyClaimed,
    NotInPool,
    QueueError,
    queue_item_hand_to_marketing,
    queue_item_touch,
    touch_response,
)

TEMPLATE = "dossiers/dossier.html"


class TouchForm(forms.Form):
    channel = forms.ChoiceField(
        choices=Touch.Channel.choices,
        error_messages={
            "required": "Channel: say how you reached them.",
            "invalid_choice": "Channel: pick one of the list.",
        },
    )
    person = forms.CharField(
        max_length=200,
        error_messages={
            "required": "Person: say who was contacted.",
            "max_length": "Person: at most 200 characters.",
        },
        widget=forms.TextInput(attrs={"list": "dossier-people", "autocomplete": "off"}),
    )
    note = forms.CharField(
        required=False,
        max_length=5000,
        error_messages={"max_length": "Note: at most 5,000 characters."},
        widget=forms.Textarea(attrs={"rows": 2}),
    )


class ResponseForm(forms.Form):
    note = forms.CharField(
        required=False,
        max_length=5000,
        label="What they said",
        error_messages={"max_length": "Note: at most 5,000 characters."},
        widget=forms.TextInput(),
    )


class ContactForm(forms.Form):
    """Validated by ``contact_add``, whose messages name the field."""

    name = forms.CharField(required=False)
    email = forms.CharField(required=False, widget=forms.EmailInput())
    title = forms.CharField(required=False)


class MarketingForm(forms.Form):
    note = forms.CharField(
        required=False,
        max_length=2000,
        label="Note for marketing",
        error_messages={"max_length": "Note: at most 2,000 characters."},
        widget=forms.Textarea(attrs={"rows": 2}),
    )


def _scope(request: HttpRequest, account_id: int) -> DossierScope:
    try:
        return dossier_scope(user=request.user, account_id=account_id)
    except DossierNotFound:
        raise Http404("No such account in your pool.") from None


def _url(account_id: int, anchor: str = "") -> str:
    return reverse("dossiers:dossier", kwargs={"account_id": account_id}) + anchor


def _people(scope: DossierScope, people: dict | None = None) -> dict:
    """The people section: the likely buyers and the other users rendered (``people``, the
    cached part, read here when not given), and what the user may do there."""
    if people is None:
        people = people_part(scope, timezone.now().date())
    return {
        "buyers_html": mark_safe(people["buyers_html"]),  # noqa: S308 (our template's output)
        "users_html": mark_safe(people["users_html"]),  # noqa: S308 (our template's output)
        "buyers": people["buyers"],
        "missing_buyer": not people["buyers"],
        "can_add_contact": not scope.read_only,
        "can_hand_to_marketing": scope.can_act and not people["buyers"],
        "item": item_dict(scope.item) if scope.item else None,
    }


def _page_context(request: HttpRequest, account_id: int, **forms_) -> dict:
    scope = _scope(request, account_id)
    page = page_get(scope=scope, user=request.user, today=timezone.now().date())
    sections = page.pop("sections")
    context = {
        **page,
        "people": _people(scope, page["people"]),
        "overview": sections["overview"],
        "score": sections["score"],
        "account_sections": mark_safe(sections["html"]),  # noqa: S308 (our template's output)
        "touch_form": TouchForm(),
        "response_form": ResponseForm(),
        "contact_form": ContactForm(),
        "marketing_form": MarketingForm(),
    }
    context.update(forms_)
    context["account_id"] = account_id
    return context


@require_GET
@role_required(Role.REP, Role.PM, Role.ADMIN)
def dossier(request: HttpRequest, account_id: int) -> HttpResponse:
    """Everything a rep needs before the first touch (seed 003, "The PQL dossier")."""
    return render(request, TEMPLATE, _page_context(request, account_id))


def _touch_log(
    request: HttpRequest,
    scope: DossierScope,
    *,
    status: int = 200,
    error: str = "",
    touch_form: TouchForm | None = None,
    response_form: ResponseForm | None = None,
    response_for: int | None = None,
) -> HttpResponse:
    """The touch log partial (htmx), else back to the page (errors: the page, with them)."""
    if not request.htmx:
        if status == 200:
            messages.success(request, "Touch log updated.")
            return redirect(_url(scope.account.pk, "#touch-log"))
        context = _page_context(
            request,
            scope.account.pk,
            touch_form=touch_form or TouchForm(),
            response_form=response_form or ResponseForm(),
            response_for=response_for,
            touch_error=error,
        )
        return render(request, TEMPLATE, context, status=status)
    # Re-read: the action changed the item. The item's state badge and the timeline
    # are swapped out of band.
    scope = _scope(request, scope.account.pk)
    context = {
        "touch_log": touch_log_get(scope=scope),
        "touch_form": touch_form or TouchForm(),
        "response_form": response_form or ResponseForm(),
        "response_for": response_for,
        "touch_error": error,
        "account_id": scope.account.pk,
    }
    html = render_to_string(f"{TEMPLATE}#touchlog", context, request)
    if status == 200:
        oob = {**context, "oob": True, "timeline": timeline_get(scope=scope)}
        html += render_to_string(f"{TEMPLATE}#itemstate", oob, request)
        html += render_to_string(f"{TEMPLATE}#timeline", oob, request)
    return HttpResponse(html, status=status)


def _queue_error(exc: QueueError) -> tuple[str, int]:
    if isinstance(exc, NotInPool):
        raise Http404("No such item in your pool.") from None
    return str(exc), 409 if isinstance(exc, AlreadyClaimed) else 400


@require_POST
@rep_required
def touch_add(request: HttpRequest, account_id: int, item_id: int) -> HttpResponse:
    """Log a touch on the account's item: the first one meets (or misses) the SLA and
    starts the back-off clock."""
    scope = _scope(request, account_id)
    item = item_in_scope(scope, item_id)
    if item is None:
        raise Http404("No such item for this account.")
    form = TouchForm(request.POST)
    if not form.is_valid():
        return _touch_log(request, scope, status=400, touch_form=form)
    try:
        queue_item_touch(
            item_id=item.pk,
            rep=request.user,
            channel=form.cleaned_data["channel"],
            person=form.cleaned_data["person"],
            note=form.cleaned_data["note"],
        )
    except QueueError as exc:
        error, status = _queue_error(exc)
        return _touch_log(request, scope, status=status, error=error, touch_form=form)
    return _touch_log(request, scope)


@require_POST
@rep_required
def touch_response_add(request: HttpRequest, account_id: int, touch_id: int) -> HttpResponse:
    """The account answered a touch: the back-off clock stops (and the Deal opens)."""
    scope = _scope(request, account_id)
    touch = touch_in_scope(scope, touch_id)
    if touch is None:
        raise Http404("No such touch on this account's item.")
    form = ResponseForm(request.POST)
    if not form.is_valid():
        return _touch_log(request, scope, status=400, response_form=form, response_for=touch.pk)
    try:
        touch_response(touch_id=touch.pk, rep=request.user, note=form.cleaned_data["note"])
    except QueueError as exc:
        error, status = _queue_error(exc)
        return _touch_log(
            request, scope, status=status, error=error, response_form=form, response_for=touch.pk
        )
    return _touch_log(request, scope)


@require_POST
@rep_required
def contact_new(request: HttpRequest, account_id: int) -> HttpResponse:
    """Add a buyer who never used the product; the people section lists them at once."""
    scope = _scope(request, account_id)
    form = ContactForm(request.POST)
    status = 200
    if form.is_valid():
        try:
            contact = contact_add(
                account_id=scope.account.pk,
                name=form.cleaned_data["name"],
                email=form.cleaned_data["email"],
                title=form.cleaned_data["title"],
                user=request.user,
            )
        except ValidationError as exc:
            for name, errors in exc.message_dict.items():
                form.add_error(name if name in form.fields else None, errors)
            status = 400
        else:
            if not request.htmx:
                messages.success(request, f"{contact} added as a contact.")
                return redirect(_url(scope.account.pk, "#people"))
            form = ContactForm()
    else:
        status = 400
    if not request.htmx:
        return render(
            request, TEMPLATE, _page_context(request, account_id, contact_form=form), status=400
        )
    context = {
        # Read again: the key of the cached people counts the contact just added.
        "people": _people(_scope(request, scope.account.pk)),
        "contact_form": form,
        "marketing_form": MarketingForm(),
        "account_id": scope.account.pk,
        "contact_added": status == 200,
    }
    return render(request, f"{TEMPLATE}#people", context, status=status)


@require_POST
@rep_required
def hand_to_marketing(request: HttpRequest, account_id: int, item_id: int) -> HttpResponse:
    """No buyer to talk to (seed 004): marketing takes the item over, with a note."""
    scope = _scope(request, account_id)
    item = item_in_scope(scope, item_id)
    if item is None:
        raise Http404("No such item for this account.")
    form = MarketingForm(request.POST)
    error = ""
    if form.is_valid():
        try:
            queue_item_hand_to_marketing(
                item_id=item.pk, rep=request.user, note=form.cleaned_data["note"]
            )
        except QueueError as exc:
            error, status = _queue_error(exc)
        else:
            messages.success(request, f"{scope.account.name} was handed to marketing.")
            if request.htmx:
                return HttpResponseClientRefresh()
            return redirect(_url(scope.account.pk))
    else:
        status = 400
    if error:
        # Refused by the item's state or holder (a colleague claimed it meanwhile): the
        # form is no longer offered, so a partial could not say why; the page, reloaded,
        # shows the message and the item as it now stands.
        messages.error(request, error)
        if not request.htmx:
            return redirect(_url(scope.account.pk, "#people"))
        response = HttpResponseClientRefresh()
        response.status_code = status
        return response
    if not request.htmx:
        return render(
            request, TEMPLATE, _page_context(request, account_id, marketing_form=form), status=400
        )
    context = {
        "people": _people(_scope(request, account_id)),
        "contact_form": ContactForm(),
        "marketing_form": form,
        "account_id": scope.account.pk,
    }
    return render(request, f"{TEMPLATE}#people", context, status=status)
