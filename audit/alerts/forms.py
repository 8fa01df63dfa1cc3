from django import forms

from audit.alerts import delivery
from audit.alerts.models import AlertRules


class AlertRulesForm(forms.ModelForm):
    """A clinic admin's thresholds and delivery settings."""

    new_webhook_secret = forms.BooleanField(
        required=False, label="Make a new webhook secret", help_text="The old one stops verifying at once."
    )

    webhook_url = forms.URLField(
        label="Webhook URL",
        required=False,
        max_length=500,
        assume_scheme="https",
        help_text="Alerts are POSTed here as signed JSON. Leave empty for none.",
    )

    class Meta:
        model = AlertRules
        fields = [
            "failed_sign_ins_enabled",
            "failed_sign_ins_threshold",
            "failed_sign_ins_window_minutes",
            "many_patients_enabled",
            "many_patients_threshold",
            "many_patients_window_minutes",
            "bulk_download_enabled",
            "bulk_download_threshold",
            "bulk_download_window_minutes",
            "off_hours_enabled",
            "usual_hours_start",
            "usual_hours_end",
            "time_zone",
            "off_hours_window_minutes",
            "restricted_patient_enabled",
            "restricted_patient_window_minutes",
            "email_enabled",
            "email_recipients",
            "webhook_url",
        ]
        widgets = {
            "usual_hours_start": forms.TimeInput(attrs={"type": "time"}, format="%H:%M"),
            "usual_hours_end": forms.TimeInput(attrs={"type": "time"}, format="%H:%M"),
            "email_recipients": forms.Textarea(attrs={"rows": 2}),
        }

    def clean_email_recipients(self) -> str:
        value = self.cleaned_data["email_recipients"]
        addresses = [address.strip() for address in value.replace(";", ",").split(",") if address.strip()]
        for address in addresses:
            forms.EmailField().clean(address)
        return ", ".join(addresses)

    def clean_webhook_url(self) -> str:
        url = self.cleaned_data["webhook_url"]
        if url:
            try:
                delivery.check_destination(url, trusted=False)
            except (delivery.WebhookRefused, delivery.WebhookFailed) as problem:
                raise forms.ValidationError(f"Palisade will not send alerts there: {problem}.") from problem
        return url
