"""Forms of the clinic's retention page. Bounds and rules live in the services; these only parse."""

from django import forms

from imaging.retention import rule_changes

_NO_PHI = "Say why, with a case or ticket reference; no patient names."


class RetentionRuleForm(forms.Form):
    modality = forms.CharField(
        max_length=16,
        required=False,
        help_text="A DICOM modality code (CT, MR, …); empty for every modality.",
    )
    years_after_study = forms.IntegerField(
        label="Years after the study",
        min_value=rule_changes.YEARS_AFTER_STUDY[0],
        max_value=rule_changes.YEARS_AFTER_STUDY[1],
    )
    age_of_majority = forms.IntegerField(
        min_value=rule_changes.AGE_OF_MAJORITY[0], max_value=rule_changes.AGE_OF_MAJORITY[1], initial=18
    )
    minor_until_age = forms.IntegerField(
        label="A minor's studies are kept until the age of",
        min_value=rule_changes.MINOR_UNTIL_AGE[0],
        max_value=rule_changes.MINOR_UNTIL_AGE[1],
        initial=25,
        help_text="Or the years after the study, whichever is later.",
    )
    is_active = forms.BooleanField(label="Active", required=False, initial=True)

    def clean(self) -> dict:
        data = super().clean()
        if not self.errors:
            for field, error in rule_changes.rule_errors(
                {**data, "modality": (data.get("modality") or "").strip().upper()}
            ).items():
                self.add_error(field, error)
        return data


class LegalHoldForm(forms.Form):
    PATIENT, STUDY = "patient", "study"

    target = forms.ChoiceField(
        label="Hold",
        widget=forms.RadioSelect,
        choices=[(PATIENT, "Every study of a patient"), (STUDY, "One study")],
        initial=PATIENT,
    )
    patient_id = forms.CharField(label="Patient ID", max_length=64, required=False)
    issuer = forms.CharField(
        label="Issuer of the Patient ID",
        max_length=64,
        required=False,
        help_text="Only when the clinic has the same Patient ID from several issuers.",
    )
    study_uid = forms.CharField(label="Study Instance UID", max_length=64, required=False)
    reason = forms.CharField(label="Reason or case reference", max_length=500, help_text=_NO_PHI)

    def clean(self) -> dict:
        data = super().clean()
        if data.get("target") == self.PATIENT and not data.get("patient_id"):
            self.add_error("patient_id", "Give the patient's ID within the clinic.")
        if data.get("target") == self.STUDY and not data.get("study_uid"):
            self.add_error("study_uid", "Give the Study Instance UID.")
        return data


class ReasonForm(forms.Form):
    """Releasing a hold, refusing an erasure: a reason is required."""

    reason = forms.CharField(max_length=500, help_text=_NO_PHI)


class ApprovalForm(forms.Form):
    """Approving an erasure: a reason only when the clinic's only admin approves their own request."""

    reason = forms.CharField(max_length=500, required=False, help_text=_NO_PHI)


class ErasureRequestForm(forms.Form):
    study_uid = forms.CharField(label="Study Instance UID", max_length=64)
    reason = forms.CharField(max_length=500, help_text=_NO_PHI)
