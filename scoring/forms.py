from django import forms

from scoring.models import Rule, RuleSet
from scoring.services.rulesets import SETTING_FIELDS
from scoring.signals import SIGNAL_CHOICES


class RuleSetSettingsForm(forms.ModelForm):
    class Meta:
        model = RuleSet
        fields = ("name", "description", *SETTING_FIELDS)
        widgets = {"description": forms.Textarea(attrs={"rows": 2})}

    def clean(self):
        data = super().clean()
        ae, sdr = data.get("ae_threshold"), data.get("sdr_threshold")
        if ae is not None and sdr is not None and sdr > ae:
            self.add_error("sdr_threshold", f"Must be at most the AE threshold ({ae}).")
        value_points = data.get("value_points")
        for name, top in (
            ("value_cutoff", value_points),
            ("engagement_cutoff", None if value_points is None else 100 - value_points),
        ):
            cutoff = data.get(name)
            if cutoff is not None and top is not None and cutoff > top:
                self.add_error(name, f"Must be at most the dimension's {top} points.")
        return data


class RuleForm(forms.ModelForm):
    signal = forms.ChoiceField(choices=SIGNAL_CHOICES)

    class Meta:
        model = Rule
        fields = (
            "signal", "operator", "threshold", "threshold_high", "points", "dimension",
            "half_life_days", "label",
        )  # fmt: skip

    def clean(self):
        data = super().clean()
        if data.get("operator") == "between":
            low, high = data.get("threshold"), data.get("threshold_high")
            if high is None or (low is not None and high < low):
                self.add_error("threshold_high", "“between” needs an upper bound ≥ the threshold.")
        if data.get("points") == 0:
            self.add_error("points", "Points must not be 0 (−100 to +100).")
        return data
