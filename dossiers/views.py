"""The PQL queue: the rep's landing page and its row actions (htmx partials).

Reps see and work their pool; admins every pool; PMs see every pool read-only and get
403 on every action. Each action calls one scoring service; the service checks the pool
again (NotInPool → 404) and words its errors for the rep, naming the field.
"""

from collections.abc import Callable

from django.conf import settings
from django.contrib import messages
from django.http import Http404, HttpRequest, HttpResponse
from django.middleware.csrf import get_token
from django.shortcuts import redirect, render
from django.template import engines
from django.urls import reverse
from django.utils.cache import patch_vary_headers
from django.utils.html import format_html
from django.utils.safestring import mark_safe
from django.views.decorators.http import require_GET, require_POST

from dossiers.forms import (
    DisqualifyForm,
    LostForm,
    NoteForm,
    QueueFilterForm,
    WonForm,
    form_error,
)
from dossiers.selectors import (
    cooldown_days,
    item_in_scope,
    play_choices,
    queue_page,
    queue_row,
    read_only,
    route_choices,
)
from feedback.selectors_feedback import my_work
from pls_portal.models import Role
from pls_portal.permissions import rep_required, role_required
from scoring.models import QueueItem
from scoring.services.queue import (
    AlreadyClaimed,
    NotInPool,
    QueueError,
    queue_item_claim,
    queue_item_close,
    queue_item_disqualify,
    queue_item_hand_to_ae,
    queue_item_hand_to_marketing,
    queue_item_release,
)

PAGE = "dossiers/queue.html"


@require_GET
@role_required(Role.REP, Role.PM, Role.ADMIN)
def queue(request: HttpRequest) -> HttpResponse:
    """The rep's landing page: the PQL queue of their pool, most urgent first."""
    form = QueueFilterForm(request.GET, routes=route_choices(request.user), plays=play_choices())
    filters = form.filters()
    result = queue_page(user=request.user, filters=filters, page_number=request.GET.get("page", 1))
    query = request.GET.copy()
    query.pop("page", None)
    context = {
        "form": form,
        "filters": filters,
        "rows": result.rows,
        "rows_html": rows_html(request, result.rows, cooldown_days=result.cooldown_days),
        "page": result.page,
        "query": query.urlencode(),
        "cooldown_days": result.cooldown_days,
        "filtered_out": result.filtered_out,
        "read_only": read_only(request.user),
        # "My work": the rep's claimed items and closed deals still owing feedback.
        "work": my_work(user=request.user),
    }
    # The list's own refresh and the filter form ask for the rows; a history restore
    # (back button) needs the whole page.
    rows_only = request.htmx and not request.htmx.history_restore_request
    response = render(request, f"{PAGE}#rows" if rows_only else PAGE, context)
    patch_vary_headers(response, ["HX-Request"])
    return response


def rows_html(
    request: HttpRequest,
    rows: list[dict],
    *,
    cooldown_days: int,
    error: str = "",
    open_form: str = "",
    posted=None,
) -> str:
    """The queue's rows as HTML (``templates/jinja2/dossiers/queue_rows.html``): the one
    template of the page a rep's 25 rows repeat, in Jinja2 for speed (pls_portal.jinja_env)."""
    template = engines["jinja2"].get_template("dossiers/queue_rows.html")
    context = {
        "rows": rows,
        "error": error,
        "open_form": open_form,
        "posted": posted or {},
        "cooldown_days": cooldown_days,
        "currency": settings.PLS_CURRENCY,
        "read_only": read_only(request.user),
        # Once per page: the backend's own csrf_input would mask a new token per form.
        "csrf_input": format_html(
            '<input type="hidden" name="csrfmiddlewaretoken" value="{}">', get_token(request)
        ),
    }
    return mark_safe(template.render(context))  # noqa: S308 (autoescaped by Jinja2)


def _row(
    request: HttpRequest,
    item_id: int,
    *,
    error: str = "",
    open_form: str = "",
    status: int = 200,
    gone: str = "",
) -> HttpResponse:
    """The item's row again (with an error and its form left open), or a flash line
    (``gone``) when the item has left the user's queue."""
    # Input errors are found before the service looks the item up: another pool's id
    # is still not found.
    if error and not item_in_scope(user=request.user, item_id=item_id):
        raise Http404("No such item in your queue.")
    if not request.htmx:
        if error:
            messages.error(request, error)
        return redirect(reverse("dossiers:queue"))
    row = queue_row(user=request.user, item_id=item_id)
    if row is None:
        return _flash(request, error or gone or "This item has left your queue.", status=status)
    html = rows_html(
        request,
        [row],
        cooldown_days=cooldown_days(),
        error=error,
        open_form=open_form,
        posted=request.POST,
    )
    return HttpResponse(html, status=status)


def _flash(
    request: HttpRequest, text: str, *, status: int = 200, feedback_url: str = ""
) -> HttpResponse:
    """A line in place of the row; after a won or lost close it offers the feedback form."""
    if not request.htmx:
        (messages.error if status >= 400 else messages.success)(request, text)
        return redirect(reverse("dossiers:queue"))
    context = {"text": text, "failed": status >= 400, "feedback_url": feedback_url}
    return render(request, f"{PAGE}#flash", context, status=status)


def _act(
    request: HttpRequest,
    item_id: int,
    run: Callable[[], QueueItem],
    *,
    name: str,  # the form to leave open on an error ("" for a button)
    leaves: Callable[[QueueItem], str] | None = None,
    gone: Callable[[QueueItem], str] | None = None,
    feedback: bool = False,
) -> HttpResponse:
    """Run one service; errors re-render the row with the message, a race says who won.
    ``leaves``: the item always leaves the queue (the flash line says how); ``gone``: it
    leaves the queue of those who cannot see its new pool; ``feedback``: a won or lost
    close, whose post-deal feedback is due now."""
    try:
        item = run()
    except NotInPool:
        raise Http404("No such item in your queue.") from None
    except AlreadyClaimed as exc:
        return _row(request, item_id, error=str(exc), status=409)
    except QueueError as exc:
        return _row(request, item_id, error=str(exc), open_form=name, status=400)
    if leaves is not None:
        url = reverse("feedback:feedback_give", args=[item.pk]) if feedback else ""
        return _flash(request, leaves(item), feedback_url=url)
    return _row(request, item_id, gone=gone(item) if gone else "")


def _invalid(request: HttpRequest, item_id: int, form, name: str) -> HttpResponse:
    return _row(request, item_id, error=form_error(form), open_form=name, status=400)


def _left(item: QueueItem) -> str:
    return f"{item.account.name} — {item.close_reason}. It has left the queue."


@require_POST
@rep_required
def item_claim(request: HttpRequest, item_id: int) -> HttpResponse:
    return _act(
        request,
        item_id,
        lambda: queue_item_claim(item_id=item_id, rep=request.user),
        name="",
    )


@require_POST
@rep_required
def item_release(request: HttpRequest, item_id: int) -> HttpResponse:
    return _act(
        request,
        item_id,
        lambda: queue_item_release(item_id=item_id, rep=request.user),
        name="",
    )


@require_POST
@rep_required
def item_won(request: HttpRequest, item_id: int) -> HttpResponse:
    form = WonForm(request.POST)
    if not form.is_valid():
        return _invalid(request, item_id, form, "won")
    return _act(
        request,
        item_id,
        lambda: queue_item_close(
            item_id=item_id, rep=request.user, won=True, arr=form.cleaned_data["arr"]
        ),
        name="won",
        leaves=_left,
        feedback=True,
    )


@require_POST
@rep_required
def item_lost(request: HttpRequest, item_id: int) -> HttpResponse:
    form = LostForm(request.POST)
    if not form.is_valid():
        return _invalid(request, item_id, form, "lost")
    return _act(
        request,
        item_id,
        lambda: queue_item_close(
            item_id=item_id, rep=request.user, won=False, lost_reason=form.cleaned_data["reason"]
        ),
        name="lost",
        leaves=_left,
        feedback=True,
    )


@require_POST
@rep_required
def item_disqualify(request: HttpRequest, item_id: int) -> HttpResponse:
    form = DisqualifyForm(request.POST)
    if not form.is_valid():
        return _invalid(request, item_id, form, "disqualify")
    return _act(
        request,
        item_id,
        lambda: queue_item_disqualify(
            item_id=item_id, rep=request.user, reason=form.cleaned_data["reason"]
        ),
        name="disqualify",
        leaves=_left,
    )


@require_POST
@rep_required
def item_hand_to_marketing(request: HttpRequest, item_id: int) -> HttpResponse:
    form = NoteForm(request.POST)
    if not form.is_valid():
        return _invalid(request, item_id, form, "marketing")
    return _act(
        request,
        item_id,
        lambda: queue_item_hand_to_marketing(
            item_id=item_id, rep=request.user, note=form.cleaned_data["note"]
        ),
        name="marketing",
        leaves=_left,
    )


@require_POST
@rep_required
def item_hand_to_ae(request: HttpRequest, item_id: int) -> HttpResponse:
    form = NoteForm(request.POST)
    if not form.is_valid():
        return _invalid(request, item_id, form, "hand_to_ae")
    return _act(
        request,
        item_id,
        lambda: queue_item_hand_to_ae(
            item_id=item_id, rep=request.user, note=form.cleaned_data["note"]
        ),
        name="hand_to_ae",
        gone=lambda item: f"{item.account.name} — handed to the AE pool. It has left your queue.",
    )
