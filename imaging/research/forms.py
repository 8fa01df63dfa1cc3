"""Forms of the research pages. Options are offered with the standard's names (PS3.15 E.3, CID 7050);
a combination imaging.deid refuses is a form error with its reason."""

import re
from collections.abc import Iterable

from django import forms

from imaging.deid import Option, Profile, SafePrivate
from imaging.research.models import ResearchProject
from imaging.research.selectors import StudyQuery
from portal.models import Tenant

OPTION_CHOICES = [(option.value, f"{option.label} ({option.value})") for option in Option]
# One per line: private creator, group and element offset, in hex: `SIEMENS CSA HEADER, 0029, 08`.
_SAFE_PRIVATE_LINE = re.compile(
    r"^\s*(?P<creator>[^,]+?)\s*,\s*(?P<group>[0-9A-Fa-f]{4})\s*,\s*(?P<element>[0-9A-Fa-f]{1,2})\s*$"
)
_UID = re.compile(r"^[0-9]+(\.[0-9]+)*$")


def options_field(**kwargs) -> forms.MultipleChoiceField:
    return forms.MultipleChoiceField(
        label="Options of the Basic Application Level Confidentiality Profile",
        choices=OPTION_CHOICES,
        widget=forms.CheckboxSelectMultiple,
        required=False,
        **kwargs,
    )


def check_options(names: list[str], safe_private: Iterable[SafePrivate] = ()) -> None:
    try:
        Profile.from_names(names, safe_private)
    except ValueError as refusal:
        raise forms.ValidationError(str(refusal)) from None


class ProjectForm(forms.Form):
    name = forms.CharField(max_length=200)
    purpose = forms.CharField(widget=forms.Textarea(attrs={"rows": 3}), max_length=5000)
    recipients = forms.CharField(widget=forms.Textarea(attrs={"rows": 2}), max_length=5000)
    options = options_field()
    safe_private = forms.CharField(
        label="Safe private attributes kept (with the Retain Safe Private option)",
        widget=forms.Textarea(attrs={"rows": 2}),
        required=False,
        help_text="One per line: private creator, group, element offset (hex): “GEMS_PARM_01, 0043, 27”.",
    )
    burned_in = forms.ChoiceField(
        label="Images with burned-in annotation",
        choices=ResearchProject.BurnedIn.choices,
        widget=forms.RadioSelect,
    )
    destination = forms.ChoiceField(choices=ResearchProject.Destination.choices, widget=forms.RadioSelect)
    destination_tenant = forms.ModelChoiceField(
        label="Destination clinic",
        queryset=None,
        required=False,
        help_text="Clinics where you manage research.",
    )
    stow_url = forms.URLField(label="STOW-RS address", required=False, max_length=500, assume_scheme="https")
    stow_token = forms.CharField(
        label="Bearer token",
        required=False,
        widget=forms.PasswordInput(render_value=False),
        help_text="Stored encrypted and never shown again. Leave empty to keep the current one.",
    )
    remove_stow_token = forms.BooleanField(label="Remove the stored token", required=False)

    def __init__(self, *args, destination_clinics=(), **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self.fields["destination_tenant"].queryset = Tenant.objects.filter(
            pk__in=[clinic.pk for clinic in destination_clinics]
        ).order_by("name")

    def clean_safe_private(self) -> list[list]:
        entries = []
        for number, line in enumerate(self.cleaned_data["safe_private"].splitlines(), start=1):
            if not line.strip():
                continue
            match = _SAFE_PRIVATE_LINE.match(line)
            if match is None:
                raise forms.ValidationError(
                    f"Line {number}: write the private creator, group and element offset."
                )
            try:
                entry = SafePrivate(match["creator"], int(match["group"], 16), int(match["element"], 16))
            except ValueError as refusal:
                raise forms.ValidationError(f"Line {number}: {refusal}.") from None
            entries.append([entry.creator, entry.group, entry.element])
        return entries

    def clean(self) -> dict:
        data = super().clean()
        if "options" in data and "safe_private" in data:
            try:
                check_options(data["options"], [SafePrivate(*entry) for entry in data["safe_private"]])
            except forms.ValidationError as error:
                self.add_error("options", error)
        destination = data.get("destination")
        if destination == ResearchProject.Destination.TENANT and not data.get("destination_tenant"):
            self.add_error("destination_tenant", "Choose the clinic that receives the images.")
        if destination == ResearchProject.Destination.DICOMWEB and not data.get("stow_url"):
            self.add_error("stow_url", "Give the STOW-RS address of the DICOMweb archive.")
        return data

    def project_values(self) -> dict:
        data = self.cleaned_data
        tenant_destination = data["destination"] == ResearchProject.Destination.TENANT
        return {
            "name": data["name"],
            "purpose": data["purpose"],
            "recipients": data["recipients"],
            "options": sorted(data["options"]),
            "safe_private": data["safe_private"],
            "burned_in": data["burned_in"],
            "destination": data["destination"],
            "destination_tenant": data["destination_tenant"] if tenant_destination else None,
            "stow_url": data["stow_url"]
            if data["destination"] == ResearchProject.Destination.DICOMWEB
            else "",
        }

    def new_stow_token(self) -> str | None:
        """The token to store: a new one, "" to remove it, None to keep what is stored."""
        if self.cleaned_data["remove_stow_token"]:
            return ""
        return self.cleaned_data["stow_token"] or None

    @staticmethod
    def initial_of(project: ResearchProject) -> dict:
        return {
            "name": project.name,
            "purpose": project.purpose,
            "recipients": project.recipients,
            "options": project.options,
            "safe_private": "\n".join(
                f"{creator}, {group:04X}, {element:02X}" for creator, group, element in project.safe_private
            ),
            "burned_in": project.burned_in,
            "destination": project.destination,
            "destination_tenant": project.destination_tenant_id,
            "stow_url": project.stow_url,
        }


class ExportForm(forms.Form):
    """Which of the clinic's studies to export; empty fields do not filter."""

    modality = forms.CharField(max_length=16, required=False)
    date_from = forms.DateField(
        label="Study date from", required=False, widget=forms.DateInput(attrs={"type": "date"})
    )
    date_to = forms.DateField(
        label="Study date to", required=False, widget=forms.DateInput(attrs={"type": "date"})
    )
    description_contains = forms.CharField(label="Study description contains", max_length=64, required=False)
    study_uids = forms.CharField(
        label="Study Instance UIDs",
        widget=forms.Textarea(attrs={"rows": 3}),
        required=False,
        help_text="One per line; leave empty to take every study the other filters match.",
    )

    def clean_study_uids(self) -> tuple[str, ...]:
        uids = tuple(
            dict.fromkeys(
                line.strip() for line in self.cleaned_data["study_uids"].splitlines() if line.strip()
            )
        )
        bad = [uid for uid in uids if len(uid) > 64 or not _UID.match(uid)]
        if bad:
            raise forms.ValidationError(f"{len(bad)} line(s) are not DICOM UIDs.")
        return uids

    def clean(self) -> dict:
        data = super().clean()
        if data.get("date_from") and data.get("date_to") and data["date_from"] > data["date_to"]:
            self.add_error("date_to", "The end date is before the start date.")
        return data

    def query(self) -> StudyQuery:
        data = self.cleaned_data
        return StudyQuery(
            modality=data["modality"].strip(),
            date_from=data["date_from"],
            date_to=data["date_to"],
            description_contains=data["description_contains"].strip(),
            study_uids=data["study_uids"],
        )


class DeviceMaskForm(forms.Form):
    manufacturer = forms.CharField(max_length=64)
    model = forms.CharField(label="Model name", max_length=64)
    rows = forms.IntegerField(min_value=1, max_value=65535, required=False)
    columns = forms.IntegerField(min_value=1, max_value=65535, required=False)
    rectangles = forms.CharField(
        label="Rectangles to black out",
        widget=forms.Textarea(attrs={"rows": 3}),
        required=False,
        help_text="One per line: x, y, width, height in pixels from the top left corner.",
    )
    flagged = forms.BooleanField(
        label="This device burns in text even when its images do not say so", required=False
    )

    def clean_rectangles(self) -> list[list[int]]:
        rectangles = []
        for number, line in enumerate(self.cleaned_data["rectangles"].splitlines(), start=1):
            if not line.strip():
                continue
            try:
                values = [int(value) for value in line.split(",")]
            except ValueError:
                values = []
            if len(values) != 4 or values[0] < 0 or values[1] < 0 or values[2] < 1 or values[3] < 1:
                raise forms.ValidationError(f"Line {number}: write x, y, width and height as whole numbers.")
            rectangles.append(values)
        return rectangles

    def clean(self) -> dict:
        data = super().clean()
        if not data.get("rectangles") and not data.get("flagged"):
            raise forms.ValidationError(
                "Give rectangles to black out, or mark the device as burning in text."
            )
        return data


class DeidentifiedDownloadForm(forms.Form):
    """A study downloaded de-identified: the options, or a project whose options and pseudonyms apply."""

    project = forms.ModelChoiceField(
        label="Research project",
        queryset=ResearchProject.objects.none(),
        required=False,
        empty_label="None (options below)",
    )
    options = options_field(help_text="Ignored when a project is chosen.")

    def __init__(self, *args, projects=None, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        if projects is not None:
            self.fields["project"].queryset = projects

    def clean(self) -> dict:
        data = super().clean()
        if not data.get("project") and "options" in data:
            try:
                check_options(data["options"])
            except forms.ValidationError as error:
                self.add_error("options", error)
        return data
