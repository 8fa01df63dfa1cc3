from django import forms

from portal.consents.models import ConsentPurpose
from portal.consents.services import MAX_TEXT_LENGTH

GRANT, WITHDRAW = "grant", "withdraw"


class PublishTextForm(forms.Form):
    """A clinic admin publishes the next version of a consent text."""

    purpose = forms.ChoiceField(label="Purpose", choices=ConsentPurpose.choices)
    text = forms.CharField(
        label="Text the patient agrees to",
        widget=forms.Textarea(attrs={"rows": 8}),
        max_length=MAX_TEXT_LENGTH,
        help_text="Publishing makes a new version; earlier versions, and what patients agreed to, are kept.",
    )


class RequirementsForm(forms.Form):
    sharing_requires_consent = forms.BooleanField(
        label="Sharing a study with a doctor needs the patient's consent to sharing with named doctors",
        required=False,
    )


class DecisionForm(forms.Form):
    """A patient's grant or withdrawal, naming the record, the purpose, and the text version they read."""

    patient = forms.IntegerField(widget=forms.HiddenInput)
    purpose = forms.ChoiceField(choices=ConsentPurpose.choices, widget=forms.HiddenInput)
    version = forms.IntegerField(min_value=1, widget=forms.HiddenInput)
    decision = forms.ChoiceField(choices=[(GRANT, "Give consent"), (WITHDRAW, "Withdraw consent")])
