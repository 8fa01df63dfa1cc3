"""Anything of another clinic answers 404, exactly as a clinic that does not exist (DESIGN.md, Tenancy)."""

from functools import partial

import pytest
from django.urls import URLPattern, URLResolver, get_resolver, reverse

from accounts.roles import Role
from tests.factories import StudyFactory


def _wado_uids(study, keys: tuple[str, ...]) -> dict:
    """WADO-RS URL arguments below the study; the values need not exist: the study already must not."""
    values = {"series_uid": "1.2.3", "instance_uid": "1.2.3.4", "frames": "1", "tag": "7FE00010"}
    return {"study_uid": study.study_instance_uid, **{key: values[key] for key in keys}}


# Every route that carries a tenant, with the extra URL arguments to fill in.
# A new tenant route with no entry here fails test_every_tenant_route_is_listed.
TENANT_ROUTES = {
    "clinic-dashboard": lambda study: {},
    "study-detail": lambda study: {"study_uid": study.study_instance_uid},
    "mobile-viewer": lambda study: {"study_uid": study.study_instance_uid},
    "api-studies": lambda study: {},
    "dicomweb-stow": lambda study: {},
    "dicomweb-stow-study": lambda study: {"study_uid": study.study_instance_uid},
    "upload": lambda study: {},
    "upload-file": lambda study: {},
    "upload-job-states": lambda study: {},
    "ingest-jobs": lambda study: {},
    "clinic-api-tokens": lambda study: {},
    "clinic-api-token-revoke": lambda study: {"token_id": 1},
    "viewer": lambda study: {},
    "viewer-config": lambda study: {},
    "viewer-route": lambda study: {"route": "viewer"},
    "sso-start": lambda study: {},
    "sso-callback": lambda study: {},
    "audit-review": lambda study: {},
    "audit-export-csv": lambda study: {},
    "access-history": lambda study: {},
    "alerts": lambda study: {},
    "alert-acknowledge": lambda study: {"alert_id": 1},
    "alert-settings": lambda study: {},
    "break-glass": lambda study: {},
    "clinic-shares": lambda study: {},
    "share-revoke": lambda study: {"share_id": 1},
    "study-right-change": lambda study: {},
    "study-share": lambda study: {"study_uid": study.study_instance_uid},
    "share-link-new": lambda study: {"study_uid": study.study_instance_uid},
    "share-link-detail": lambda study: {"link_id": 1},
    "share-link-revoke": lambda study: {"link_id": 1},
    "clinic-consents": lambda study: {},
    "clinic-consent-requirements": lambda study: {},
    "study-consent-record": lambda study: {"study_uid": study.study_instance_uid},
    "patient-access-code-new": lambda study: {"study_uid": study.study_instance_uid},
    "study-download": lambda study: {"study_uid": study.study_instance_uid},
    **{
        name: lambda study: {
            "study_uid": study.study_instance_uid,
            "download_id": "00000000-0000-0000-0000-000000000001",
        }
        for name in ("study-download-progress", "study-download-status", "study-download-file")
    },
    "research-projects": lambda study: {},
    "research-project-new": lambda study: {},
    "research-device-masks": lambda study: {},
    "research-device-mask-delete": lambda study: {"mask_id": 1},
    **{
        name: lambda study: {"project_id": "00000000-0000-0000-0000-000000000001"}
        for name in ("research-project", "research-project-edit", "research-export-new")
    },
    **{
        name: lambda study: {"export_id": "00000000-0000-0000-0000-000000000001"}
        for name in ("research-export-status", "research-export-file")
    },
    "study-deidentified-download": lambda study: {"study_uid": study.study_instance_uid},
    # Clinic administration, onboarding, agreements, retention and compliance (issue 11).
    **{
        name: lambda study: {}
        for name in (
            "agreements",
            "clinic-settings",
            "clinic-security-policy",
            "clinic-sharing-policy",
            "clinic-members",
            "dicom-peers",
            "onboarding-checklist",
            "onboarding-go-live",
            "onboarding-region",
            "onboarding-skip",
            "retention",
            "retention-certificates",
            "retention-erasure-request",
            "retention-hold-place",
            "retention-rule-new",
            "compliance-report",
            "compliance-report-pdf",
            "transparency",
        )
    },
    "member-role": lambda study: {"membership_id": 1},
    "member-remove": lambda study: {"membership_id": 1},
    "invitation-resend": lambda study: {"invitation_id": 1},
    "invitation-revoke": lambda study: {"invitation_id": 1},
    "dicom-peer-remove": lambda study: {"peer_id": 1},
    "retention-certificate": lambda study: {"certificate_id": "00000000-0000-0000-0000-000000000001"},
    **{
        name: lambda study: {"pk": 1}
        for name in (
            "retention-rule-edit",
            "retention-rule-remove",
            "retention-hold-release",
            "retention-erasure-approve",
            "retention-erasure-refuse",
        )
    },
    "dicomweb-qido-study-series": lambda study: {"study_uid": study.study_instance_uid},
    "dicomweb-qido-series-instances": lambda study: {
        "study_uid": study.study_instance_uid,
        "series_uid": "1.2.3",
    },
    "dicomweb-qido-study-instances": lambda study: {"study_uid": study.study_instance_uid},
    "dicomweb-qido-series": lambda study: {},
    "dicomweb-qido-instances": lambda study: {},
    **{
        f"dicomweb-wado-{name}": partial(_wado_uids, keys=keys)
        for name, keys in {
            "study-metadata": (),
            "study-rendered": (),
            "study-thumbnail": (),
            "series": ("series_uid",),
            "series-metadata": ("series_uid",),
            "series-rendered": ("series_uid",),
            "series-thumbnail": ("series_uid",),
            "instance": ("series_uid", "instance_uid"),
            "instance-metadata": ("series_uid", "instance_uid"),
            "instance-rendered": ("series_uid", "instance_uid"),
            "instance-thumbnail": ("series_uid", "instance_uid"),
            "frames": ("series_uid", "instance_uid", "frames"),
            "frames-rendered": ("series_uid", "instance_uid", "frames"),
            "bulkdata": ("series_uid", "instance_uid", "tag"),
        }.items()
    },
}


def _tenant_route_names(patterns=None, prefix="") -> set[str]:
    names = set()
    for entry in patterns if patterns is not None else get_resolver().url_patterns:
        if isinstance(entry, URLResolver):
            names |= _tenant_route_names(entry.url_patterns, prefix + str(entry.pattern))
        elif isinstance(entry, URLPattern) and "<slug:tenant_slug>" in prefix + str(entry.pattern):
            names.add(entry.name)
    return names


def test_every_tenant_route_is_listed():
    assert _tenant_route_names() == set(TENANT_ROUTES)


@pytest.fixture
def intruder(tenant, other_tenant, member_factory, client):
    """An admin of clinic A, signed in, probing clinic B."""
    user = member_factory(tenant, Role.TENANT_ADMIN)
    client.force_login(user)
    return client


@pytest.mark.parametrize("route", sorted(TENANT_ROUTES))
def test_a_member_of_clinic_a_gets_404_for_any_clinic_b_url(route, intruder, other_tenant):
    study = StudyFactory(tenant=other_tenant)
    url = reverse(route, kwargs={"tenant_slug": other_tenant.slug, **TENANT_ROUTES[route](study)})
    missing_url = reverse(route, kwargs={"tenant_slug": "no-such-clinic", **TENANT_ROUTES[route](study)})

    response = intruder.get(url)
    missing = intruder.get(missing_url)

    assert response.status_code == 404
    assert missing.status_code == 404
    assert response.content.replace(other_tenant.slug.encode(), b"") == missing.content.replace(
        b"no-such-clinic", b""
    )


@pytest.mark.parametrize("route", sorted(TENANT_ROUTES))
@pytest.mark.parametrize("method", ["post", "put", "patch", "delete"])
def test_writes_to_another_clinic_get_404_too(route, method, intruder, other_tenant):
    study = StudyFactory(tenant=other_tenant)
    url = reverse(route, kwargs={"tenant_slug": other_tenant.slug, **TENANT_ROUTES[route](study)})

    assert getattr(intruder, method)(url).status_code in {404, 405}


def test_a_study_uid_of_clinic_b_is_404_inside_clinic_a(intruder, tenant, other_tenant):
    study = StudyFactory(tenant=other_tenant)

    response = intruder.get(reverse("study-detail", args=[tenant.slug, study.study_instance_uid]))

    assert response.status_code == 404


def test_a_listing_in_clinic_a_never_shows_clinic_b_studies(intruder, tenant, other_tenant):
    StudyFactory(tenant=tenant, description="ALPHA STUDY")
    StudyFactory(tenant=other_tenant, description="BRAVO STUDY")

    page = intruder.get(reverse("clinic-dashboard", args=[tenant.slug])).content.decode()
    api = intruder.get(reverse("api-studies", args=[tenant.slug])).json()

    assert "ALPHA STUDY" in page and "BRAVO STUDY" not in page
    assert [row["description"] for row in api["results"]] == ["ALPHA STUDY"]


def test_anonymous_visitors_are_sent_to_sign_in_whether_or_not_the_clinic_exists(client, tenant):
    existing = client.get(reverse("clinic-dashboard", args=[tenant.slug]))
    missing = client.get(reverse("clinic-dashboard", args=["no-such-clinic"]))

    assert existing.status_code == missing.status_code == 302
    assert existing["Location"].startswith(reverse("login"))
    assert missing["Location"].startswith(reverse("login"))


def test_an_inactive_clinic_is_404_for_its_own_members(tenant, member_factory, client):
    client.force_login(member_factory(tenant, Role.RADIOLOGIST))
    tenant.is_active = False
    tenant.save()

    assert client.get(reverse("clinic-dashboard", args=[tenant.slug])).status_code == 404


def test_a_dimse_peer_of_clinic_a_finds_nothing_of_clinic_b_at_any_level(tenant, other_tenant):
    # The query layer behind C-FIND, C-GET and C-MOVE (imaging.dimse); tests/dimse drives it with dcmtk.
    from accounts.policy import remote_ae_visible_studies
    from imaging.dimse.services import register_remote_ae
    from imaging.query import AnyOf, Level, QueryCriteria, SingleValue, search
    from imaging.query.attributes import PATIENT_ID, STUDY_INSTANCE_UID
    from portal.tenancy import tenant_scope

    study = StudyFactory(tenant=other_tenant)
    pacs = register_remote_ae(tenant, "PACS", may_query=True, may_retrieve=True)
    matches = {
        PATIENT_ID: SingleValue(study.patient.patient_id),
        STUDY_INSTANCE_UID: AnyOf((study.study_instance_uid,)),
    }

    with tenant_scope(tenant):
        for level in Level:
            of_level = {tag: m for tag, m in matches.items() if level > Level.PATIENT or tag == PATIENT_ID}
            criteria = QueryCriteria(level, of_level, frozenset({PATIENT_ID}))
            assert search(remote_ae_visible_studies(pacs), criteria).rows == []
