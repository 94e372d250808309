from django import forms

from feedback.outbound.models import SUBSCRIBABLE_TYPES, Delivery, Endpoint, EventType


class EndpointForm(forms.Form):
    name = forms.CharField(max_length=100)
    url = forms.URLField(
        label="URL",
        max_length=500,
        assume_scheme="https",
        help_text="Where events are POSTed: your receiver, or a Slack incoming-webhook URL.",
    )
    event_types = forms.MultipleChoiceField(
        label="Events",
        choices=[(t.value, t.label) for t in SUBSCRIBABLE_TYPES],
        widget=forms.CheckboxSelectMultiple,
        error_messages={"required": "Choose at least one event type."},
    )
    format = forms.ChoiceField(
        choices=Endpoint.Format.choices,
        initial=Endpoint.Format.JSON,
        widget=forms.RadioSelect,
        help_text="Slack receives a one-line text per event; the JSON event is for your code.",
    )
    is_active = forms.BooleanField(
        label="Active", required=False, initial=True, help_text="Inactive endpoints get nothing."
    )

    def clean_url(self) -> str:
        url = self.cleaned_data["url"]
        if not url.lower().startswith(("http://", "https://")):
            raise forms.ValidationError("Enter an http:// or https:// URL.")
        return url

    @classmethod
    def for_endpoint(cls, endpoint: Endpoint) -> "EndpointForm":
        return cls(
            initial={
                "name": endpoint.name,
                "url": endpoint.url,
                "event_types": endpoint.event_types,
                "format": endpoint.format,
                "is_active": endpoint.is_active,
            }
        )


class DeliveryFilterForm(forms.Form):
    """The delivery log's filters (GET); anything invalid is ignored, not an error."""

    endpoint = forms.TypedChoiceField(required=False, coerce=int, empty_value=None)
    state = forms.ChoiceField(required=False, choices=[("", "Any state"), *Delivery.State.choices])
    type = forms.ChoiceField(required=False, choices=[("", "Any event"), *EventType.choices])
    q = forms.CharField(required=False, max_length=100, label="Event id or text")

    def __init__(self, *args, endpoints: list[tuple[int, str]], **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["endpoint"].choices = [("", "Any endpoint"), *endpoints]

    def filters(self) -> dict:
        self.is_valid()  # the valid fields filter; an invalid one is left out
        data = self.cleaned_data
        return {
            "endpoint_id": data.get("endpoint"),
            "state": data.get("state", ""),
            "event_type": data.get("type", ""),
            "search": data.get("q", "").strip(),
        }


class CrmSyncStartForm(forms.Form):
    full = forms.BooleanField(required=False)
