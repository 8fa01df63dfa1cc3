from datetime import timedelta

from django import forms

from portal.patients import codes


class IssueAccessCodeForm(forms.Form):
    DELIVERY_CHOICES = [("print", "Print it on the visit sheet"), ("email", "E-mail it to the patient")]

    delivery = forms.ChoiceField(choices=DELIVERY_CHOICES, initial="print", widget=forms.RadioSelect)
    email = forms.EmailField(
        label="Patient's e-mail address", required=False, help_text="Only when e-mailing the code."
    )
    valid_days = forms.IntegerField(
        label="Valid for (days)", min_value=1, max_value=90, initial=30, help_text="From 1 to 90 days."
    )

    def clean(self) -> dict:
        data = super().clean()
        if data.get("delivery") == "email" and not data.get("email"):
            self.add_error("email", "Give the address to e-mail the code to.")
        if data.get("delivery") == "print":
            data["email"] = ""
        return data

    @property
    def lifetime(self) -> timedelta:
        return timedelta(days=self.cleaned_data["valid_days"])


class JoinForm(forms.Form):
    """The code and date of birth; and, for someone not signed in, the account's e-mail and password."""

    code = forms.CharField(
        label="Access code",
        max_length=40,
        help_text="On your visit sheet or in the e-mail from your clinic, for example ABCD-EFGH-JKMN.",
        widget=forms.TextInput(
            attrs={"autocomplete": "off", "autocapitalize": "characters", "spellcheck": "false"}
        ),
    )
    birth_date = forms.DateField(
        label="Date of birth", widget=forms.DateInput(attrs={"type": "date", "autocomplete": "bday"})
    )
    full_name = forms.CharField(
        label="Your name (optional)",
        max_length=150,
        required=False,
        widget=forms.TextInput(attrs={"autocomplete": "name"}),
    )
    email = forms.EmailField(label="E-mail address", widget=forms.EmailInput(attrs={"autocomplete": "email"}))
    password = forms.CharField(
        label="Password",
        strip=False,
        help_text="At least 12 characters. Have a Palisade account with this e-mail? Enter its password.",
        widget=forms.PasswordInput(attrs={"autocomplete": "new-password"}),
    )

    def __init__(self, *args, signed_in: bool, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        if signed_in:
            for name in ("full_name", "email", "password"):
                del self.fields[name]

    def clean_code(self) -> str:
        return codes.normalized(self.cleaned_data["code"])

    def clean_email(self) -> str:
        return self.cleaned_data["email"].strip().lower()
