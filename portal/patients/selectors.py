"""Reads for the patient's pages: their studies across every clinic where they are a patient."""

from collections.abc import Callable
from dataclasses import dataclass

from django.db.models import QuerySet

from accounts import policy
from accounts.models import Membership, User
from accounts.roles import Role
from imaging.models import Study
from portal.models import Tenant
from portal.paging import Paged
from portal.tenancy import tenant_scope


@dataclass(frozen=True)
class ClinicStudies:
    tenant: Tenant
    # One page of the clinic's studies, newest first.
    studies: Paged


def patient_memberships(user: User) -> list[Membership]:
    """The clinics where `user` is a patient, active ones only, by clinic name."""
    return list(
        Membership.objects.select_related("tenant")
        .filter(user=user, role=Role.PATIENT, tenant__is_active=True)
        .order_by("tenant__name")
    )


def studies_by_clinic(user: User, page: Callable[[Tenant, QuerySet[Study]], Paged]) -> list[ClinicStudies]:
    """Every study `user` may see as a patient, grouped by clinic, newest first; `page` picks the page of
    each clinic's studies to show (portal.paging.paged). The policy decides, clinic by clinic, inside
    that clinic's scope: nothing here filters studies on its own."""
    found = []
    for member in patient_memberships(user):
        with tenant_scope(member.tenant):
            studies = policy.visible_studies(user, member.tenant).order_by(
                "-study_date", "-study_time", "-id"
            )
            found.append(ClinicStudies(tenant=member.tenant, studies=page(member.tenant, studies)))
    return found
