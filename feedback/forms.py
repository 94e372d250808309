"""The post-deal feedback form, the PM's tag and comment forms and the report's filters."""

from __future__ import annotations

from django import forms

from .models import Feedback, FeedbackCategory
from .selectors_report import EntryFilters
from .services import COMMENT_LENGTH, NOTE_LENGTH, FeedbackInput

Kind = FeedbackCategory.Kind


def _note(label: str, help_text: str = "") -> forms.CharField:
    return forms.CharField(
        required=False,
        max_length=NOTE_LENGTH,
        label=label,
        help_text=help_text,
        widget=forms.Textarea(attrs={"rows": 2}),
    )


class FeedbackForm(forms.Form):
    """What the rep records after a won or lost deal. Which fields are needed together
    (a trigger; objections for a lost deal; what self-serve lacked) is the service's
    rule, so the message is the same wherever feedback is given."""

    trigger_signal = forms.CharField(
        required=False,
        max_length=300,
        label="Signal that triggered it",
        help_text="Prefilled with the item's top reason; pick another or say it in your words.",
    )
    trigger_play = forms.TypedChoiceField(
        required=False, coerce=int, empty_value=None, label="Play worked"
    )
    trigger_note = _note("Anything else that triggered it")
    objections = forms.TypedMultipleChoiceField(
        required=False, coerce=int, label="Objections", widget=forms.CheckboxSelectMultiple
    )
    objection_note = _note("Objections in your words")
    features = forms.MultipleChoiceField(
        required=False, label="Features requested", widget=forms.CheckboxSelectMultiple
    )
    feature_note = _note("Other features requested")
    blockers = forms.TypedMultipleChoiceField(
        required=False,
        coerce=int,
        label="What blocked self-serve",
        widget=forms.CheckboxSelectMultiple,
    )
    self_serve_note = _note(
        "What would they have needed to buy without sales?",
        "Seed 003: what the customer would have needed to self-serve — the product's to-do.",
    )

    def __init__(
        self,
        *args,
        plays: list,
        objections: list[FeedbackCategory],
        blockers: list[FeedbackCategory],
        features: dict[str, str],
        reasons: list[str],
        **kwargs,
    ):
        super().__init__(*args, **kwargs)
        self.fields["trigger_play"].choices = [("", "No play"), *((p.pk, p.name) for p in plays)]
        self.fields["objections"].choices = [(c.pk, c.label) for c in objections]
        self.fields["blockers"].choices = [(c.pk, c.label) for c in blockers]
        self.fields["features"].choices = list(features.items())
        self.reasons = reasons

    @classmethod
    def initial_of(cls, feedback: Feedback) -> dict:
        return {
            "trigger_signal": feedback.trigger_signal,
            "trigger_play": feedback.trigger_play_id,
            "trigger_note": feedback.trigger_note,
            "objections": [c.pk for c in feedback.objections.all()],
            "objection_note": feedback.objection_note,
            "features": [f.key for f in feedback.features.all()],
            "feature_note": feedback.feature_note,
            "blockers": [c.pk for c in feedback.blockers.all()],
            "self_serve_note": feedback.self_serve_note,
        }

    def to_input(self) -> FeedbackInput:
        data = self.cleaned_data
        return FeedbackInput(
            trigger_signal=data["trigger_signal"],
            trigger_play_id=data["trigger_play"],
            trigger_note=data["trigger_note"],
            objection_ids=tuple(data["objections"]),
            objection_note=data["objection_note"],
            feature_keys=tuple(data["features"]),
            feature_note=data["feature_note"],
            blocker_ids=tuple(data["blockers"]),
            self_serve_note=data["self_serve_note"],
        )


class TagsForm(forms.Form):
    tags = forms.CharField(
        required=False,
        max_length=1000,
        label="Tags",
        help_text="Free tags, separated by commas (e.g. pricing, sso).",
    )


class CommentForm(forms.Form):
    text = forms.CharField(
        required=False,
        max_length=COMMENT_LENGTH,
        label="comment",
        widget=forms.Textarea(attrs={"rows": 3}),
    )


class EntryFilterForm(forms.Form):
    """The drill-down's filters (GET, kept in the URL); a value that is not a choice (an
    old link) is ignored."""

    outcome = forms.ChoiceField(
        required=False, label="Outcome", choices=[("", "Won or lost"), *Feedback.Outcome.choices]
    )
    objection = forms.ChoiceField(required=False, label="Objection")
    blocker = forms.ChoiceField(required=False, label="Self-serve blocker")
    feature = forms.ChoiceField(required=False, label="Feature requested")
    tag = forms.CharField(required=False, max_length=40, label="Tag")

    def __init__(self, *args, categories: list[FeedbackCategory], features: dict[str, str], **kw):
        super().__init__(*args, **kw)
        for name, kind in (("objection", Kind.OBJECTION), ("blocker", Kind.BLOCKER)):
            self.fields[name].choices = [
                ("", "Any"),
                *((c.key, c.label) for c in categories if c.kind == kind),
            ]
        self.fields["feature"].choices = [("", "Any"), *features.items()]

    def filters(self) -> EntryFilters:
        self.is_valid()
        data = self.cleaned_data
        return EntryFilters(
            outcome=data.get("outcome") or "",
            objection=data.get("objection") or "",
            blocker=data.get("blocker") or "",
            feature=data.get("feature") or "",
            tag=" ".join((data.get("tag") or "").split()).lower(),
        )


def form_error(form: forms.Form) -> str:
    """The form's first error, naming its field."""
    for name, errors in form.errors.items():
        label = form.fields[name].label if name in form.fields else ""
        return f"{label}: {errors[0]}" if label else errors[0]
    return ""
