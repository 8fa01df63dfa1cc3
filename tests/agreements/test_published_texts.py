"""The first versions published by migration, and the platform admin of texts and acceptances."""

import hashlib

import pytest
from django.urls import reverse

from portal.agreements import services
from portal.agreements.first_versions import TEXTS
from portal.agreements.models import AgreementText
from tests.agreements.conftest import accept_all
from tests.factories import UserFactory


@pytest.mark.parametrize(
    ("kind", "file_name", "clauses"),
    [
        ("baa", "baa.md", ["164.504(e)", "164.502(e)(1)(ii)", "164.524", "164.526", "164.528", "Secretary"]),
        ("dpa", "dpa.md", [f"Article 28(3)({letter})" for letter in "abcdefgh"]),
        ("terms", "terms.md", ["counsel"]),
    ],
)
def test_version_one_of_each_agreement_is_published_from_its_file(db, kind, file_name, clauses):
    text = services.current_text(kind)

    body = (TEXTS / file_name).read_text(encoding="utf-8")
    assert (text.version, text.body) == (1, body)
    assert text.sha256 == hashlib.sha256(body.encode()).hexdigest()
    assert "Template" in body
    for clause in clauses:
        assert clause in body


@pytest.fixture
def operator(db, client):
    user = UserFactory(is_superuser=True, is_staff=True)
    client.force_login(user)
    return user


def test_the_operator_publishes_a_new_version_which_becomes_current(operator, client):
    response = client.post(
        reverse("admin:agreements_agreementtext_add"),
        {
            "kind": "dpa",
            "version": "2",
            "title": "Data Processing Agreement",
            "body": "The second version.",
            "published_at_0": "2026-01-01",
            "published_at_1": "00:00:00",
            "term_days": "365",
        },
    )

    assert response.status_code == 302, response.content.decode()
    current = services.current_text("dpa")
    assert (current.version, current.sha256) == (2, hashlib.sha256(b"The second version.").hexdigest())


def test_a_new_version_must_be_higher_than_the_published_one(operator, client):
    response = client.post(
        reverse("admin:agreements_agreementtext_add"),
        {
            "kind": "dpa",
            "version": "1",
            "title": "DPA",
            "body": "x",
            "published_at_0": "2026-01-01",
            "published_at_1": "00:00:00",
            "term_days": "365",
        },
    )

    assert response.status_code == 200
    assert "a new version must be higher" in response.content.decode()


def test_a_text_that_has_been_accepted_is_read_only(operator, client, tenant, clinic_admin):
    accept_all(tenant, clinic_admin)
    dpa = services.current_text("dpa")
    unaccepted = services.current_text("baa")

    accepted_page = client.get(
        reverse("admin:agreements_agreementtext_change", args=[dpa.pk])
    ).content.decode()
    posted = client.post(
        reverse("admin:agreements_agreementtext_change", args=[dpa.pk]),
        {
            "kind": "dpa",
            "version": "1",
            "title": "Changed",
            "body": "Changed",
            "published_at_0": "2026-01-01",
            "published_at_1": "00:00:00",
            "term_days": "365",
        },
    )
    open_page = client.get(
        reverse("admin:agreements_agreementtext_change", args=[unaccepted.pk])
    ).content.decode()

    assert 'name="body"' not in accepted_page
    assert posted.status_code == 403
    dpa.refresh_from_db()
    assert dpa.body == (TEXTS / "dpa.md").read_text(encoding="utf-8")
    assert 'name="body"' in open_page


def test_acceptances_are_listed_read_only_by_tenant_and_kind(operator, client, tenant, clinic_admin):
    accept_all(tenant, clinic_admin)

    listing = client.get(reverse("admin:agreements_agreementacceptance_changelist"), {"text__kind": "dpa"})

    assert listing.status_code == 200
    html = listing.content.decode()
    assert "Data Processing Agreement" in html and "Dana Admin" in html
    assert reverse("admin:agreements_agreementacceptance_add") not in html
    assert AgreementText.objects.count() == 3
