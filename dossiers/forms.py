"""The queue's filter form (GET, kept in the URL) and the forms of its row actions."""

from django import forms

from dossiers.selectors import CLAIMED_CHOICES, QueueFilters


class QueueFilterForm(forms.Form):
    q = forms.CharField(
        required=False,
        max_length=100,
        label="Search",
        widget=forms.TextInput(
            attrs={"type": "search", "placeholder": "Account name or domain", "autocomplete": "off"}
        ),
    )
    route = forms.ChoiceField(required=False, label="Route")
    play = forms.ChoiceField(required=False, label="Play")
    claimed = forms.ChoiceField(
        required=False, label="Claimed", choices=[("", "Anyone"), *CLAIMED_CHOICES]
    )
    overdue = forms.BooleanField(required=False, label="Overdue")
    missing_buyer = forms.BooleanField(required=False, label="Missing buyer")

    def __init__(self, *args, routes: list[tuple[str, str]], plays: list[tuple[str, str]], **kw):
        super().__init__(*args, **kw)
        self.fields["route"].choices = [("", "Any route"), *routes]
        self.fields["play"].choices = [("", "Any play"), *plays]

    def filters(self) -> QueueFilters:
        """The valid filters; a value that is not a choice (an old bookmark) is ignored."""
        self.is_valid()
        data = self.cleaned_data
        return QueueFilters(
            route=data.get("route") or "",
            play=data.get("play") or "",
            claimed=data.get("claimed") or "",
            overdue=bool(data.get("overdue")),
            missing_buyer=bool(data.get("missing_buyer")),
            q=(data.get("q") or "").strip(),
        )


class WonForm(forms.Form):
    # Required and above 0 is the service's rule; it names the field when it fails.
    arr = forms.DecimalField(required=False, label="ARR", max_digits=14, decimal_places=2)


class LostForm(forms.Form):
    reason = forms.CharField(required=False, max_length=250, label="reason")


class DisqualifyForm(forms.Form):
    reason = forms.CharField(required=False, max_length=250, label="reason")


class NoteForm(forms.Form):
    note = forms.CharField(required=False, max_length=1000, label="note")


def form_error(form: forms.Form) -> str:
    """The form's first error, naming its field as the services' messages do."""
    for name, errors in form.errors.items():
        label = form.fields[name].label if name in form.fields else ""
        return f"{label}: {errors[0]}" if label else errors[0]
    return ""
