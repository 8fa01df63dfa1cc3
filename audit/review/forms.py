from django import forms
from django.core.validators import RegexValidator

from audit.models import AuditAction, Outcome
from audit.review.selectors import EventFilter

# PS3.5 9.1: a UID is digits and dots, at most 64 characters.
_UID = RegexValidator(r"^[0-9.]{1,64}$", "A UID is digits and dots, at most 64 characters.")


class AuditFilterForm(forms.Form):
    """The review page's filters, read from the query string (so that a filtered view can be bookmarked
    and exported as it is)."""

    user = forms.EmailField(label="User (e-mail)", required=False, max_length=254)
    patient = forms.CharField(label="Patient ID", required=False, max_length=64)
    study = forms.CharField(label="Study Instance UID", required=False, max_length=64, validators=[_UID])
    action = forms.ChoiceField(
        label="Action", required=False, choices=[("", "Any action"), *AuditAction.choices]
    )
    outcome = forms.ChoiceField(
        label="Outcome", required=False, choices=[("", "Any outcome"), *Outcome.choices]
    )
    since = forms.DateField(label="From", required=False, widget=forms.DateInput(attrs={"type": "date"}))
    until = forms.DateField(label="To", required=False, widget=forms.DateInput(attrs={"type": "date"}))
    # The newest event when the reviewer began paging: later pages and the export hold the same
    # events, however many are recorded meanwhile (this page's own reading among them).
    upto = forms.IntegerField(required=False, min_value=0, widget=forms.HiddenInput)

    def clean(self) -> dict:
        cleaned = super().clean()
        since, until = cleaned.get("since"), cleaned.get("until")
        if since and until and since > until:
            raise forms.ValidationError("The start date is after the end date.")
        return cleaned

    def event_filter(self) -> EventFilter:
        """The filter asked for; call once the form is valid."""
        data = self.cleaned_data
        return EventFilter(
            user_email=data["user"],
            patient_id=data["patient"],
            study_uid=data["study"],
            action=data["action"],
            outcome=data["outcome"],
            since=data["since"],
            until=data["until"],
            upto=data["upto"],
        )
