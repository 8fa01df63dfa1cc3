from django import forms

from portal.agreements.models import AgreementAcceptance


class AcceptAgreementForm(forms.Form):
    """One kind's acceptance, as signed on the agreements page by a clinic admin."""

    kind = forms.ChoiceField(widget=forms.HiddenInput)
    # The hash of the text the page showed: if another version was published meanwhile, the signer
    # is asked to read that one (optional, so that a signer who never saw a hash is not refused).
    sha256 = forms.CharField(widget=forms.HiddenInput, required=False, max_length=64)
    signer_name = forms.CharField(
        label="Your full name",
        max_length=AgreementAcceptance._meta.get_field("signer_name").max_length,
    )
    signer_role = forms.CharField(
        label="Your position at the clinic",
        max_length=AgreementAcceptance._meta.get_field("signer_role").max_length,
        help_text="For example: Medical director, Practice manager.",
    )
    accept = forms.BooleanField(
        label="I have read and accept this agreement on behalf of the clinic",
        error_messages={"required": "Tick the box to accept the agreement."},
    )

    def __init__(self, *args, kinds: list[tuple[str, str]], current_sha256: dict[str, str], **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self.fields["kind"].choices = kinds
        self._current_sha256 = current_sha256

    def clean_signer_name(self) -> str:
        return " ".join(self.cleaned_data["signer_name"].split())

    def clean_signer_role(self) -> str:
        return " ".join(self.cleaned_data["signer_role"].split())

    def clean(self) -> dict:
        data = super().clean()
        kind, shown = data.get("kind"), data.get("sha256")
        if kind and shown and shown != self._current_sha256.get(kind):
            raise forms.ValidationError(
                "A new version of this agreement was published while you were reading it. "
                "Read the version now shown, then accept it."
            )
        return data
