"""Create the users bench/run_pages.py signs in as, in a bench server's environment (its
PALISADE_VAR_DIR and database), after bench/palisade_index.py has indexed the clinic's studies.

`python bench/page_users.py TENANT PASSWORD` creates, in the clinic TENANT, all with PASSWORD:
- a radiologist, who sees every study of the clinic;
- a clinic admin, for the clinic's shares page;
- a patient, whose one Patient record is made to own every study of the clinic (Patient.account);
- a referring doctor with one Share of each study, granted by the clinic admin.

The clinic's security policy is set to require a second factor of no role, so that each of them signs in
with a password alone. Prints the e-mail addresses as `role=email` lines.
"""

import argparse
import datetime
import os
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "portal.settings")

import django  # noqa: E402 (after the settings module is chosen)

django.setup()

from django.db import transaction  # noqa: E402 (after django.setup)
from django.utils import timezone  # noqa: E402 (after django.setup)

from accounts.roles import Role  # noqa: E402 (after django.setup)
from accounts.security_policy import policy_for_tenant  # noqa: E402 (after django.setup)
from accounts.services import add_member  # noqa: E402 (after django.setup)
from imaging.models import Patient, Study  # noqa: E402 (after django.setup)
from portal.models import Tenant  # noqa: E402 (after django.setup)
from portal.sharing.models import Share  # noqa: E402 (after django.setup)
from portal.tenancy import tenant_scope  # noqa: E402 (after django.setup)

USERS = {
    "radiologist": (Role.RADIOLOGIST, "bench-radiologist@bench.example"),
    "admin": (Role.TENANT_ADMIN, "bench-admin@bench.example"),
    "patient": (Role.PATIENT, "bench-patient@bench.example"),
    "doctor": (Role.REFERRING_PHYSICIAN, "bench-doctor@bench.example"),
}
PATIENT_ID = "BENCH-PATIENT"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("tenant")
    parser.add_argument("password")
    args = parser.parse_args()
    tenant = Tenant.objects.get(slug=args.tenant)
    with transaction.atomic():
        policy = policy_for_tenant(tenant)
        policy.mfa_required_roles = []
        policy.save()
        users = {
            key: add_member(email, tenant, role, password=args.password)[0].user
            for key, (role, email) in USERS.items()
        }
        with tenant_scope(tenant):
            patient, _ = Patient.objects.get_or_create(
                tenant=tenant,
                patient_id=PATIENT_ID,
                defaults={"name": "Bench^Patient", "sex": "O", "birth_date": datetime.date(1970, 1, 1)},
            )
            patient.account = users["patient"]
            patient.save(update_fields=["account"])
            studies = Study.objects.filter(tenant=tenant)
            studies.update(patient=patient)
            # The corpus's own patients now own no study; the dashboard's counts stay those of one patient.
            Patient.objects.filter(tenant=tenant).exclude(pk=patient.pk).delete()
            now = timezone.now()
            Share.objects.bulk_create(
                Share(
                    tenant=tenant,
                    study_id=study_id,
                    grantee=users["doctor"],
                    granted_by=users["admin"],
                    created_at=now,
                    expires_at=now + datetime.timedelta(days=30),
                )
                for study_id in studies.values_list("pk", flat=True)
            )
            shares = Share.objects.filter(tenant=tenant, grantee=users["doctor"]).count()
            count = studies.count()
    print(f"studies={count} shares={shares}")
    for key, (_, email) in USERS.items():
        print(f"{key}={email}")


if __name__ == "__main__":
    main()
