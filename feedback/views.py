"""Post-deal feedback pages: reps give it (and read what they gave), PMs tag and comment.
The monthly PM report is in views_report; PLS metrics in views_metrics."""

from __future__ import annotations

from django.contrib import messages
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils import timezone
from django.views.decorators.http import require_GET, require_http_methods, require_POST

from pls_portal.models import Role
from pls_portal.permissions import pm_required, rep_required, role_required

from . import selectors_feedback
from .forms import CommentForm, FeedbackForm, TagsForm, form_error
from .models import FeedbackCategory
from .selectors_feedback import (
    EDIT_DAYS,
    can_edit,
    category_choices,
    deal_facts,
    editable_until,
    entry_row,
    existing_feedback,
    feature_labels,
    feedback_given,
    feedback_item,
    feedback_prefill,
    my_work,
    play_choices,
)
from .services import (
    FeedbackError,
    FeedbackLocked,
    NotYours,
    feedback_comment_add,
    feedback_submit,
    feedback_tags_set,
    feedback_update,
    tags_parse,
)

# --- a rep's feedback ---------------------------------------------------------------------


@require_GET
@rep_required
def feedback_mine(request: HttpRequest) -> HttpResponse:
    """The rep's closed deals waiting for feedback, and the feedback they gave."""
    now = timezone.now()
    given = [
        {
            "feedback": f,
            "editable": can_edit(f, user=request.user, now=now),
            "until": editable_until(f),
        }
        for f in feedback_given(user=request.user)
    ]
    context = {"work": my_work(user=request.user), "given": given, "edit_days": EDIT_DAYS}
    return render(request, "feedback/mine.html", context)


def _form(item, feedback, data=None) -> FeedbackForm:
    keep_categories = (
        [c.pk for c in feedback.objections.all()] + [c.pk for c in feedback.blockers.all()]
        if feedback
        else []
    )
    features = feature_labels()
    for f in feedback.features.all() if feedback else []:
        features.setdefault(f.key, f.key)
    return FeedbackForm(
        data,
        initial=FeedbackForm.initial_of(feedback) if feedback else feedback_prefill(item=item),
        plays=play_choices(keep=feedback.trigger_play_id if feedback else None),
        objections=category_choices(FeedbackCategory.Kind.OBJECTION, keep=keep_categories),
        blockers=category_choices(FeedbackCategory.Kind.BLOCKER, keep=keep_categories),
        features=features,
        reasons=list(item.reasons or []),
    )


@require_http_methods(["GET", "POST"])
@rep_required
def feedback_give(request: HttpRequest, item_id: int) -> HttpResponse:
    """The feedback form of a won or lost item: given once, then edited by its author
    for 14 days; read-only after that (or for anyone else)."""
    item = feedback_item(user=request.user, item_id=item_id)
    if item is None:
        raise Http404("No such closed deal of yours.")
    now = timezone.now()
    feedback = existing_feedback(item_id=item.pk)
    context = {
        "item": item,
        "facts": deal_facts(item),
        "feedback": feedback,
        "edit_days": EDIT_DAYS,
    }
    if feedback is not None and not can_edit(feedback, user=request.user, now=now):
        return _read_only(
            request, context, feedback, status=403 if request.method == "POST" else 200
        )
    if request.method == "GET":
        context["form"] = _form(item, feedback)
        return render(request, "feedback/form.html", context)

    form = _form(item, feedback, request.POST)
    context["form"] = form
    if not form.is_valid():
        context["error"] = form_error(form)
        return render(request, "feedback/form.html", context, status=400)
    try:
        if feedback is None:
            saved = feedback_submit(
                item_id=item.pk, author=request.user, data=form.to_input(), now=now
            )
        else:
            saved = feedback_update(
                feedback_id=feedback.pk, author=request.user, data=form.to_input(), now=now
            )
    except NotYours:
        raise Http404("No such closed deal of yours.") from None
    except FeedbackLocked:
        return _read_only(request, context, feedback, status=403)
    except FeedbackError as exc:
        context["error"] = str(exc)
        return render(request, "feedback/form.html", context, status=400)
    until = editable_until(saved)
    messages.success(
        request,
        f"Feedback on {item.account.name} saved. You can edit it until {until:%Y-%m-%d %H:%M} UTC.",
    )
    return redirect(reverse("feedback:feedback_mine"))


def _read_only(request, context: dict, feedback, *, status: int) -> HttpResponse:
    context["entry"] = entry_row(feedback, features=feature_labels())
    if feedback.author_id == request.user.pk:
        context["locked"] = (
            f"You can no longer edit this feedback: the {EDIT_DAYS}-day editing window closed "
            f"on {editable_until(feedback):%Y-%m-%d %H:%M} UTC. A PM can still comment on it."
        )
    else:
        context["locked"] = (
            f"{feedback.author.display_name} gave the feedback on this deal; only they can edit it."
        )
    return render(request, "feedback/form.html", context, status=status)


# --- one feedback entry (authors read it, PMs tag and comment) ----------------------------


def _detail_context(request: HttpRequest, feedback, **extra) -> dict:
    is_pm = request.user.role in (Role.PM, Role.ADMIN)
    tags = [t.name for t in feedback.tags.all()]
    return {
        "entry": entry_row(feedback, features=feature_labels()),
        "feedback": feedback,
        "comments": list(feedback.comments.all()),
        "is_pm": is_pm,
        "editable": can_edit(feedback, user=request.user, now=timezone.now()),
        "until": editable_until(feedback),
        "tags_form": TagsForm(initial={"tags": ", ".join(tags)}) if is_pm else None,
        "comment_form": CommentForm() if is_pm else None,
        **extra,
    }


@require_GET
@role_required(Role.REP, Role.PM, Role.ADMIN)
def feedback_detail(request: HttpRequest, feedback_id: int) -> HttpResponse:
    feedback = selectors_feedback.feedback_detail(user=request.user, feedback_id=feedback_id)
    if feedback is None:
        raise Http404("No such feedback.")
    return render(request, "feedback/detail.html", _detail_context(request, feedback))


def _pm_answer(request: HttpRequest, feedback_id: int, part: str, error: str = "", **forms):
    """After a tag or comment: the part again (htmx), else back to the entry."""
    if not request.htmx:
        if error:
            messages.error(request, error)
        return redirect(reverse("feedback:feedback_detail", args=[feedback_id]))
    feedback = selectors_feedback.feedback_detail(user=request.user, feedback_id=feedback_id)
    context = _detail_context(request, feedback, error=error, part=part)
    context.update(forms)
    return render(request, f"feedback/detail.html#{part}", context, status=400 if error else 200)


@require_POST
@pm_required
def feedback_tags(request: HttpRequest, feedback_id: int) -> HttpResponse:
    form = TagsForm(request.POST)
    if not form.is_valid():
        return _pm_answer(request, feedback_id, "tags", form_error(form), tags_form=form)
    try:
        feedback_tags_set(
            feedback_id=feedback_id,
            user=request.user,
            tags=tags_parse(form.cleaned_data["tags"]),
            now=timezone.now(),
        )
    except NotYours:
        raise Http404("No such feedback.") from None
    except FeedbackError as exc:
        return _pm_answer(request, feedback_id, "tags", str(exc), tags_form=form)
    return _pm_answer(request, feedback_id, "tags")


@require_POST
@pm_required
def feedback_comment(request: HttpRequest, feedback_id: int) -> HttpResponse:
    form = CommentForm(request.POST)
    if not form.is_valid():
        return _pm_answer(request, feedback_id, "comments", form_error(form), comment_form=form)
    try:
        feedback_comment_add(
            feedback_id=feedback_id,
            user=request.user,
            text=form.cleaned_data["text"],
            now=timezone.now(),
        )
    except NotYours:
        raise Http404("No such feedback.") from None
    except FeedbackError as exc:
        return _pm_answer(request, feedback_id, "comments", str(exc), comment_form=form)
    return _pm_answer(request, feedback_id, "comments")
