import hashlib
import itertools
import secrets
from datetime import timedelta

import factory
from django.utils import timezone

from accounts.models import Membership, User
from accounts.roles import Role
from imaging.models import Instance, Patient, Series, Study
from portal.agreements import services as agreement_services
from portal.agreements.models import AgreementAcceptance
from portal.models import Tenant
from portal.sharing.models import BreakGlassGrant, Share, ShareLink
from portal.tenancy import tenant_scope

_uid = itertools.count(1)


def dicom_uid() -> str:
    # 2.25 is the UUID-derived root (PS3.5 B.2): valid, and never a real institution's.
    return f"2.25.{next(_uid)}{timezone.now():%H%M%S%f}"


class TenantFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Tenant
        skip_postgeneration_save = True

    slug = factory.Sequence(lambda n: f"clinic-{n}")
    name = factory.Sequence(lambda n: f"Clinic {n}")
    ae_title = factory.LazyAttribute(lambda t: t.slug.upper()[:16])
    home_region = "eu-1"

    @factory.post_generation
    def agreements(tenant, create, extracted, **kwargs):
        """The clinic has accepted the current texts its jurisdiction requires, as a clinic that may
        ingest has; `TenantFactory(agreements=False)` for one that has not."""
        if create and extracted is not False:
            accept_current_agreements(tenant)


AGREEMENT_SIGNER_EMAIL = "agreements-signer@example.org"


def accept_current_agreements(tenant: Tenant, signer: User | None = None) -> list[AgreementAcceptance]:
    """Acceptances of the current texts of every kind `tenant` requires, as if signed before the test
    (rows only: the AGREEMENT_ACCEPTED events of services.accept are tested on their own)."""
    if signer is None:
        signer = User.objects.filter(email=AGREEMENT_SIGNER_EMAIL).first() or UserFactory(
            email=AGREEMENT_SIGNER_EMAIL
        )
    now = timezone.now()
    rows = []
    with tenant_scope(tenant):
        for kind in agreement_services.required_kinds(tenant):
            text = agreement_services.current_text(kind)
            rows.append(
                AgreementAcceptance.objects.create(
                    tenant=tenant,
                    text=text,
                    signer=signer,
                    signer_name="Casey Signer",
                    signer_role="Medical director",
                    signed_at=now,
                    expires_at=now + timedelta(days=text.term_days),
                    document_sha256=text.sha256,
                )
            )
    return rows


class UserFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = User

    email = factory.Sequence(lambda n: f"user{n}@example.org")
    password = factory.django.Password("correct horse battery")


class MembershipFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Membership

    user = factory.SubFactory(UserFactory)
    tenant = factory.SubFactory(TenantFactory)
    role = Role.RADIOLOGIST


class TenantOwnedFactory(factory.django.DjangoModelFactory):
    """Creates rows inside their tenant's scope, as ingestion does (and as row-level security demands)."""

    class Meta:
        abstract = True

    @classmethod
    def _create(cls, model_class, *args, **kwargs):
        with tenant_scope(kwargs["tenant"]):
            return super()._create(model_class, *args, **kwargs)


class PatientFactory(TenantOwnedFactory):
    class Meta:
        model = Patient

    tenant = factory.SubFactory(TenantFactory)
    patient_id = factory.Sequence(lambda n: f"PID{n:05d}")
    name = "Doe^Jane"


class StudyFactory(TenantOwnedFactory):
    class Meta:
        model = Study

    tenant = factory.SubFactory(TenantFactory)
    patient = factory.SubFactory(PatientFactory, tenant=factory.SelfAttribute("..tenant"))
    study_instance_uid = factory.LazyFunction(dicom_uid)
    description = "CT HEAD"
    modalities_in_study = "CT"


class SeriesFactory(TenantOwnedFactory):
    class Meta:
        model = Series

    tenant = factory.SubFactory(TenantFactory)
    study = factory.SubFactory(StudyFactory, tenant=factory.SelfAttribute("..tenant"))
    series_instance_uid = factory.LazyFunction(dicom_uid)
    modality = "CT"


class InstanceFactory(TenantOwnedFactory):
    class Meta:
        model = Instance

    tenant = factory.SubFactory(TenantFactory)
    series = factory.SubFactory(SeriesFactory, tenant=factory.SelfAttribute("..tenant"))
    sop_instance_uid = factory.LazyFunction(dicom_uid)
    sop_class_uid = "1.2.840.10008.5.1.4.1.1.2"


class ShareFactory(TenantOwnedFactory):
    """A study shared with a doctor for a week; pass `patient=` and `study=None` to share a patient."""

    class Meta:
        model = Share

    tenant = factory.SubFactory(TenantFactory)
    study = factory.SubFactory(StudyFactory, tenant=factory.SelfAttribute("..tenant"))
    grantee = factory.SubFactory(UserFactory)
    expires_at = factory.LazyFunction(lambda: timezone.now() + timedelta(days=7))


class ShareLinkFactory(TenantOwnedFactory):
    """A share link for a week. Its token is `share_link_token(link)`: the row keeps only the hash."""

    class Meta:
        model = ShareLink
        skip_postgeneration_save = True

    tenant = factory.SubFactory(TenantFactory)
    token = factory.LazyFunction(lambda: secrets.token_urlsafe(32))
    token_hash = factory.LazyAttribute(lambda link: hashlib.sha256(link.token.encode()).hexdigest())
    expires_at = factory.LazyFunction(lambda: timezone.now() + timedelta(days=7))

    @classmethod
    def _create(cls, model_class, *args, token, **kwargs):
        link = super()._create(model_class, *args, **kwargs)
        link.token = token
        return link

    @factory.post_generation
    def studies(self, create, extracted, **kwargs):
        if create and extracted:
            with tenant_scope(self.tenant):
                self.studies.set(extracted)


class BreakGlassGrantFactory(TenantOwnedFactory):
    class Meta:
        model = BreakGlassGrant

    tenant = factory.SubFactory(TenantFactory)
    study = factory.SubFactory(StudyFactory, tenant=factory.SelfAttribute("..tenant"))
    user = factory.SubFactory(UserFactory)
    reason = "Emergency department, unconscious patient"
    expires_at = factory.LazyFunction(lambda: timezone.now() + timedelta(hours=1))
