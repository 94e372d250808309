from django import forms

from accounts.models import IngestionKey


class IngestionKeyForm(forms.Form):
    name = forms.CharField(
        max_length=IngestionKey._meta.get_field("name").max_length,
        help_text="What the key is for, e.g. “web app production”.",
    )


class RejectedDeleteForm(forms.Form):
    reason = forms.CharField(required=False, max_length=300)
