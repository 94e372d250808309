"""The play editor: the play's fields, and its conditions as rows (a formset). Each row
is checked by ``playbooks.conditions.condition_clean``, the same check the service runs,
so an error names the condition ("Condition 2") and sits under the field it is about."""

from __future__ import annotations

from django import forms

from playbooks.conditions import (
    MAX_CONDITIONS,
    OPERATORS,
    ConditionError,
    condition_clean,
    subject_choices,
)
from playbooks.models import Play

ROW_FIELDS = ("signal", "operator", "threshold", "threshold_high", "values", "key", "days", "label")


class PlayForm(forms.ModelForm):
    class Meta:
        model = Play
        fields = ("name", "priority", "is_active", "situation", "approach", "message_template")
        widgets = {
            "situation": forms.Textarea(attrs={"rows": 3}),
            "approach": forms.Textarea(attrs={"rows": 3}),
            "message_template": forms.Textarea(attrs={"rows": 12, "spellcheck": "true"}),
        }
        labels = {"is_active": "Active", "message_template": "First message (template)"}


class ConditionForm(forms.Form):
    signal = forms.ChoiceField(
        label="Signal or fact", choices=[("", "—"), *subject_choices()], required=False
    )
    operator = forms.ChoiceField(
        choices=[(k, f"{label} ({k})") for k, label in OPERATORS.items()], required=False
    )
    threshold = forms.CharField(required=False, max_length=30)
    threshold_high = forms.CharField(label="Up to", required=False, max_length=30)
    values = forms.CharField(
        required=False,
        max_length=300,
        widget=forms.TextInput(attrs={"placeholder": "free, trial"}),
        help_text="Plans or routes, comma-separated.",
    )
    key = forms.CharField(
        required=False,
        max_length=80,
        widget=forms.TextInput(attrs={"placeholder": "exports"}),
        help_text="Feature or limit key.",
    )
    days = forms.CharField(
        required=False, max_length=3, widget=forms.TextInput(attrs={"placeholder": "7"})
    )
    label = forms.CharField(
        label="Words (optional)",
        required=False,
        max_length=120,
        widget=forms.TextInput(attrs={"placeholder": "{value} exports this week"}),
        help_text="{value} is the account's value.",
    )

    def __init__(self, *args, position: int = 0, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self.position = position
        # The rows sit in a table whose header names the columns; screen readers get it too.
        for name, field in self.fields.items():
            label = field.label or name.replace("_", " ").capitalize()
            field.widget.attrs["aria-label"] = f"Condition {position}: {label}"

    @classmethod
    def initial_of(cls, condition: dict) -> dict:
        initial = {name: condition.get(name, "") for name in ROW_FIELDS}
        if isinstance(condition.get("values"), list):
            initial["values"] = ", ".join(condition["values"])
        return initial

    @property
    def is_blank(self) -> bool:
        data = getattr(self, "cleaned_data", {}) or {}
        return not data.get("signal")

    def clean(self):
        data = super().clean()
        if not data.get("signal") or data.get("DELETE"):
            return data
        raw = {name: data.get(name) for name in ROW_FIELDS if data.get(name) not in (None, "")}
        try:
            data["condition"] = condition_clean(raw, position=self.position)
        except ConditionError as exc:
            field = exc.field if exc.field in self.fields else None
            self.add_error(field, str(exc))
        return data


class BaseConditionFormSet(forms.BaseFormSet):
    def get_form_kwargs(self, index):
        return {**super().get_form_kwargs(index), "position": (index or 0) + 1}

    def add_fields(self, form, index):
        super().add_fields(form, index)
        if "DELETE" in form.fields:
            form.fields["DELETE"].widget.attrs["aria-label"] = f"Remove condition {form.position}"

    def clean(self):
        if any(self.errors):
            return
        if not self.conditions():
            raise forms.ValidationError("A play needs at least one condition.")
        if len(self.conditions()) > MAX_CONDITIONS:
            raise forms.ValidationError(f"A play has at most {MAX_CONDITIONS} conditions.")

    def conditions(self) -> list[dict]:
        """The rows that are filled in and not removed, as condition dicts."""
        return [
            form.cleaned_data["condition"]
            for form in self.forms
            if form.cleaned_data.get("condition") and not form.cleaned_data.get("DELETE")
        ]


ConditionFormSet = forms.formset_factory(
    ConditionForm,
    formset=BaseConditionFormSet,
    extra=2,
    can_delete=True,
    max_num=MAX_CONDITIONS,
    absolute_max=MAX_CONDITIONS + 5,
)
CONDITIONS_PREFIX = "conditions"


def condition_formset(data=None, *, conditions: list[dict] | None = None) -> BaseConditionFormSet:
    initial = [ConditionForm.initial_of(c) for c in conditions or []]
    return ConditionFormSet(data, initial=initial or None, prefix=CONDITIONS_PREFIX)
