"""The peer application entities (modalities, PACS, workstations) each clinic lets in over DIMSE."""

from cryptography import x509
from django.core.exceptions import ValidationError
from django.core.validators import MaxValueValidator, MinValueValidator
from django.db import models

from portal.models import AE_TITLE_VALIDATOR, TenantOwned


def parse_tls_subject(value: str) -> x509.Name:
    """An RFC 4514 distinguished name ("CN=ct-1,O=Alpha Imaging"), as a comparable x509.Name."""
    try:
        return x509.Name.from_rfc4514_string(value)
    except ValueError as exc:
        raise ValidationError(
            "A TLS subject is an RFC 4514 distinguished name, such as CN=ct-1,O=Alpha Imaging."
        ) from exc


class RemoteAE(TenantOwned):
    """A peer AE of one clinic: who may open an association to the clinic's AE title, what it may do
    there, and where C-MOVE sends to (an active registration with `host` and `port`).

    An association is accepted only when its calling AE title is registered here for the clinic the
    called AE title names, and, for each of `host` and `tls_subject` that is set, when the source IP
    address and the verified client certificate's subject match too (imaging.dimse.associations).
    """

    ae_title = models.CharField("AE title", max_length=16, validators=[AE_TITLE_VALIDATOR])
    host = models.GenericIPAddressField(
        null=True,
        blank=True,
        help_text="When set, associations must come from this IP address (compared as an address, "
        "never resolved from a name).",
    )
    port = models.PositiveIntegerField(
        null=True,
        blank=True,
        validators=[MinValueValidator(1), MaxValueValidator(65535)],
        help_text="Port of the peer's own listener, where C-MOVE sends.",
    )
    tls_subject = models.CharField(
        "TLS subject",
        max_length=500,
        blank=True,
        help_text="When set, the peer must present a client certificate (signed by the listener's CA) "
        "with exactly this subject, as an RFC 4514 name: CN=ct-1,O=Alpha Imaging.",
    )
    may_store = models.BooleanField(
        default=True, help_text="May send instances (C-STORE); when off, C-STORE is refused with 0x0124."
    )
    # Off unless granted: reading the clinic's index and images is more than a modality needs.
    may_query = models.BooleanField(
        default=False,
        help_text="May search the clinic's studies (C-FIND); when off, C-FIND is refused with 0x0124.",
    )
    may_retrieve = models.BooleanField(
        default=False,
        help_text="May retrieve the clinic's instances (C-GET, C-MOVE); when off, refused with 0x0124.",
    )
    description = models.CharField(max_length=200, blank=True)
    is_active = models.BooleanField(default=True)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        verbose_name = "remote AE"
        ordering = ["ae_title"]
        constraints = [
            models.UniqueConstraint(
                fields=["tenant", "ae_title"],
                name="remote_ae_unique_per_tenant",
                violation_error_message="This AE title is already registered for the clinic.",
            )
        ]

    def __str__(self) -> str:
        return self.ae_title

    def clean(self) -> None:
        # PS3.5 Table 6.2-1: leading and trailing spaces of an AE title are not significant.
        self.ae_title = self.ae_title.strip()
        if not self.ae_title:
            raise ValidationError({"ae_title": "An AE title cannot be only spaces (PS3.5 6.2)."})
        self.tls_subject = self.tls_subject.strip()
        if self.tls_subject:
            try:
                # Stored in cryptography's canonical spelling, the one the audit trail records.
                self.tls_subject = parse_tls_subject(self.tls_subject).rfc4514_string()
            except ValidationError as exc:
                raise ValidationError({"tls_subject": exc.messages}) from None
