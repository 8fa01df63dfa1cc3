from django import forms
from django.core.validators import validate_slug

from accounts.roles import Role
from imaging.dimse.models import RemoteAE
from portal.models import AE_TITLE_VALIDATOR
from portal.onboarding import countries
from portal.onboarding.certificates import ClientCertificate, read_client_certificate
from portal.onboarding.invitations import STAFF_ROLES
from portal.onboarding.services import slug_problem

STAFF_ROLE_CHOICES = [(role.value, role.label) for role in STAFF_ROLES]


class ClinicRequestForm(forms.Form):
    clinic_name = forms.CharField(label="Clinic name", max_length=200)
    country = forms.ChoiceField(
        label="Country", help_text="Decides the law your data is under and where it is kept."
    )
    slug = forms.CharField(
        label="Wished address",
        max_length=40,
        min_length=3,
        help_text="Lower-case letters, digits and hyphens: your clinic's pages will be at /t/<address>/.",
    )
    contact_name = forms.CharField(label="Your name", max_length=200)
    contact_email = forms.EmailField(
        label="Your e-mail address", help_text="You will be invited as the clinic's first admin."
    )
    privacy_contact_name = forms.CharField(
        label="Privacy contact", max_length=200, help_text="Whom patients and we contact about their data."
    )
    privacy_contact_email = forms.EmailField(label="Privacy contact's e-mail address")

    def __init__(self, *args, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self.fields["country"].choices = [("", "Choose a country")] + [
            (code, f"{name} ({countries.jurisdiction_of_country(code)})")
            for code, name in countries.offered_countries()
        ]

    def clean_slug(self) -> str:
        slug = self.cleaned_data["slug"].strip().lower()
        validate_slug(slug)
        if "_" in slug:
            raise forms.ValidationError("Use hyphens rather than underscores.")
        problem = slug_problem(slug)
        if problem:
            raise forms.ValidationError(problem)
        return slug


class InviteForm(forms.Form):
    email = forms.EmailField(label="E-mail address")
    role = forms.ChoiceField(label="Role", choices=STAFF_ROLE_CHOICES, initial=Role.TECHNOLOGIST)


class RoleForm(forms.Form):
    role = forms.ChoiceField(label="Role", choices=STAFF_ROLE_CHOICES)


class SetPasswordForm(forms.Form):
    """A newcomer's account: their name and a password (Django's validators are run by the view, with the
    account's e-mail, so that a password like the address is refused)."""

    full_name = forms.CharField(label="Your name", max_length=150, required=False)
    password1 = forms.CharField(
        label="Password",
        strip=False,
        widget=forms.PasswordInput(attrs={"autocomplete": "new-password"}),
        help_text="At least 12 characters, not a common or breached password, not only digits.",
    )
    password2 = forms.CharField(
        label="Password again",
        strip=False,
        widget=forms.PasswordInput(attrs={"autocomplete": "new-password"}),
    )

    def clean(self) -> dict:
        data = super().clean()
        if data.get("password1") and data.get("password2") and data["password1"] != data["password2"]:
            self.add_error("password2", "The two passwords differ.")
        return data


class PeerForm(forms.Form):
    ae_title = forms.CharField(label="AE title", max_length=16, validators=[AE_TITLE_VALIDATOR])
    host = forms.GenericIPAddressField(
        label="IP address",
        required=False,
        help_text="When given, associations must come from this address. An address, never a host name.",
    )
    port = forms.IntegerField(
        label="Port",
        required=False,
        min_value=1,
        max_value=65535,
        help_text="The peer's own listener (C-MOVE).",
    )
    description = forms.CharField(max_length=200, required=False)
    may_store = forms.BooleanField(label="May send studies (C-STORE)", required=False, initial=True)
    may_query = forms.BooleanField(label="May search the clinic's studies (C-FIND)", required=False)
    may_retrieve = forms.BooleanField(label="May retrieve studies (C-GET, C-MOVE)", required=False)
    certificate = forms.FileField(
        label="TLS client certificate (PEM, optional)",
        required=False,
        help_text="When given, the peer must present this certificate's subject over TLS. The certificate "
        "only, never its private key.",
    )

    def __init__(self, *args, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        for name in ("may_store", "may_query", "may_retrieve"):
            self.fields[name].help_text = RemoteAE._meta.get_field(name).help_text

    def clean_certificate(self) -> ClientCertificate | None:
        upload = self.cleaned_data.get("certificate")
        if not upload:
            return None
        return read_client_certificate(upload.read(64 * 1024 + 1))


class RegionForm(forms.Form):
    home_region = forms.ChoiceField(label="Home region", widget=forms.RadioSelect)
    replica_regions = forms.MultipleChoiceField(
        label="Replica regions", required=False, widget=forms.CheckboxSelectMultiple
    )

    def __init__(self, *args, regions: list[str], **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self.fields["home_region"].choices = [(region, region) for region in regions]
        self.fields["replica_regions"].choices = [(region, region) for region in regions]

    def clean(self) -> dict:
        data = super().clean()
        if data.get("home_region") in data.get("replica_regions", []):
            self.add_error("replica_regions", "The home region cannot also be a replica region.")
        return data
