"""The sharer's form for a new link, and the visitor's for its PIN or code."""

from datetime import timedelta

from django import forms
from django.core.validators import RegexValidator

from portal.sharing.links.codes import EMAIL_CODE_DIGITS
from portal.sharing.links.services import Protection

# Bounded choices rather than a free date: every link ends, within services.MAX_LIFETIME.
LIFETIMES = {
    "1h": ("1 hour", timedelta(hours=1)),
    "1d": ("1 day", timedelta(days=1)),
    "3d": ("3 days", timedelta(days=3)),
    "7d": ("7 days", timedelta(days=7)),
    "14d": ("14 days", timedelta(days=14)),
    "30d": ("30 days", timedelta(days=30)),
}
MAX_USE_LIMIT = 1000

_PIN = RegexValidator(r"^[0-9]{4,8}$", "A PIN is 4 to 8 digits.")


class NewShareLinkForm(forms.Form):
    label = forms.CharField(
        max_length=120,
        required=False,
        help_text="For you and your clinic: whom the link is for. The recipient does not see it.",
    )
    expires_in = forms.ChoiceField(
        label="Works for", choices=[(key, text) for key, (text, _) in LIFETIMES.items()], initial="7d"
    )
    protection = forms.ChoiceField(
        label="To open it, the recipient also needs",
        widget=forms.RadioSelect,
        choices=[
            (Protection.PIN.value, "A PIN that you tell them separately"),
            (Protection.EMAIL_CODE.value, "A one-time code, e-mailed to them when they open the link"),
            (Protection.NONE.value, "Nothing: whoever has the link opens it"),
        ],
        initial=Protection.PIN.value,
    )
    pin = forms.CharField(
        label="PIN",
        required=False,
        validators=[_PIN],
        widget=forms.TextInput(attrs={"inputmode": "numeric", "autocomplete": "off"}),
        help_text="4 to 8 digits.",
    )
    recipient_email = forms.EmailField(label="Recipient's e-mail address", required=False)
    allow_download = forms.BooleanField(label="Allow downloading the images", required=False)
    use_limit = forms.IntegerField(
        label="Openings allowed",
        required=False,
        min_value=1,
        max_value=MAX_USE_LIMIT,
        help_text="Leave empty for no limit. Each opening with the link counts once.",
    )

    def __init__(self, *args, may_download: bool, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        if not may_download:
            # Nobody shares more than they hold themselves.
            del self.fields["allow_download"]

    def clean(self) -> dict:
        data = super().clean()
        protection = data.get("protection")
        if protection == Protection.PIN and not data.get("pin") and "pin" not in self.errors:
            self.add_error("pin", "Choose a PIN of 4 to 8 digits, or another protection.")
        if (
            protection == Protection.EMAIL_CODE
            and not data.get("recipient_email")
            and "recipient_email" not in self.errors
        ):
            self.add_error("recipient_email", "Give the address the code is sent to, or another protection.")
        if protection != Protection.PIN:
            data["pin"] = ""
        if protection != Protection.EMAIL_CODE:
            data["recipient_email"] = ""
        data.setdefault("allow_download", False)
        return data

    @property
    def lifetime(self) -> timedelta:
        return LIFETIMES[self.cleaned_data["expires_in"]][1]


class OpenShareLinkForm(forms.Form):
    """The one thing a protected link asks for. Any wrong answer counts, whatever its shape."""

    answer = forms.CharField(
        max_length=32,
        strip=True,
        widget=forms.TextInput(
            attrs={"inputmode": "numeric", "autocomplete": "one-time-code", "autofocus": True}
        ),
    )

    def __init__(self, *args, protection: Protection, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self.fields["answer"].label = {
            Protection.PIN: "PIN",
            Protection.EMAIL_CODE: f"The {EMAIL_CODE_DIGITS}-digit code we e-mailed",
        }.get(protection, "")
        if protection == Protection.NONE:
            del self.fields["answer"]  # the click on "Open" is all
