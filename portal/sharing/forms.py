from datetime import date, timedelta

from django import forms
from django.utils import timezone

from portal.sharing import services

MEMBER, INVITE = "member", "invite"
STUDY, PATIENT = "study", "patient"


class ShareForm(forms.Form):
    """Whom to share a study with, what, until when. The choices to invite and to share every study of
    the patient are offered only to those the policy lets do so (accounts.policy)."""

    recipient = forms.ChoiceField(
        label="Doctor",
        widget=forms.RadioSelect,
        choices=[
            (MEMBER, "A referring doctor of this clinic"),
            (INVITE, "Someone new: invite them by e-mail as a referring doctor of this clinic"),
        ],
        initial=MEMBER,
    )
    email = forms.EmailField(label="Doctor's e-mail address")
    full_name = forms.CharField(
        label="Doctor's name", max_length=150, required=False, help_text="For an invitation; optional."
    )
    scope = forms.ChoiceField(
        label="Share",
        widget=forms.RadioSelect,
        choices=[(STUDY, "This study"), (PATIENT, "Every study of this patient, present and future")],
        initial=STUDY,
    )
    last_day = forms.DateField(
        label="Until (last day)",
        widget=forms.DateInput(attrs={"type": "date"}),
        help_text=f"The share ends at the end of that day (UTC), at most {services.MAX_SHARE_DAYS} days "
        "from today.",
    )
    note = forms.CharField(
        label="Note for the doctor",
        widget=forms.Textarea(attrs={"rows": 3}),
        max_length=2000,
        required=False,
        help_text="Shown to the doctor with the study.",
    )
    allow_download = forms.BooleanField(label="Allow the doctor to download the images", required=False)

    def __init__(self, *args, may_invite: bool, may_share_patient: bool, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        today = timezone.localdate()
        self.fields["last_day"].initial = today + timedelta(days=services.DEFAULT_SHARE_DAYS)
        self.fields["last_day"].widget.attrs.update(
            min=today.isoformat(), max=(today + timedelta(days=services.MAX_SHARE_DAYS)).isoformat()
        )
        if not may_invite:
            del self.fields["recipient"], self.fields["full_name"]
        if not may_share_patient:
            del self.fields["scope"]

    def clean_last_day(self) -> date:
        last_day = self.cleaned_data["last_day"]
        try:
            services.validate_last_day(last_day)
        except services.ShareRefused as refusal:
            raise forms.ValidationError(str(refusal)) from None
        return last_day

    @property
    def invite(self) -> bool:
        return self.cleaned_data.get("recipient") == INVITE

    @property
    def whole_patient(self) -> bool:
        return self.cleaned_data.get("scope") == PATIENT


class StudyRightForm(forms.Form):
    """Give or take away one per-study right of a referring doctor (django-guardian)."""

    study_uid = forms.CharField(label="Study Instance UID", max_length=64)
    email = forms.EmailField(label="Doctor's e-mail address")
    right = forms.ChoiceField(choices=list(services.STUDY_RIGHTS.items()))
    operation = forms.ChoiceField(choices=[("give", "Give"), ("remove", "Remove")], widget=forms.HiddenInput)
