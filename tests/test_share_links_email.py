"""Share links that ask for a one-time code e-mailed to the recipient: a real Celery worker makes and
sends the code (tests/mail.py reads what it sends)."""

import re
from datetime import timedelta

import pytest
from django.core import mail as outbox
from django.urls import reverse
from django.utils import timezone

from audit.models import AuditAction, AuditEvent
from portal.sharing.models import ShareLink
from portal.tenancy import tenant_scope
from tests.factories import ShareLinkFactory, StudyFactory, TenantFactory
from tests.mail import mails, start_mail_worker

pytestmark = [pytest.mark.integration, pytest.mark.django_db(transaction=True)]

RECIPIENT = "second.opinion@example.net"


@pytest.fixture
def code_link(transactional_db):
    tenant = TenantFactory(slug="alpha", name="Alpha Imaging")
    study = StudyFactory(tenant=tenant)
    link = ShareLinkFactory(
        tenant=tenant, studies=[study], requires_email_code=True, recipient_email=RECIPIENT
    )
    return link, study


def fresh(link) -> ShareLink:
    with tenant_scope(link.tenant):
        return ShareLink.objects.get(pk=link.pk)


def code_in(message: str) -> str:
    return re.search(r"one-time code: (\d{6})", message).group(1)


def test_the_recipient_gets_a_one_time_code_that_opens_the_link_once(client, code_link, worker_factory):
    link, study = code_link
    url = reverse("share-link-open", kwargs={"token": link.token})
    start_mail_worker(worker_factory)
    landing = client.get(url)
    assert "s•••@example.net" in landing.content.decode() and RECIPIENT not in landing.content.decode()

    asked = client.post(url, {"send_code": "1"})
    (message,) = mails()
    code = code_in(message)
    wrong = client.post(url, {"answer": "000000" if code != "000000" else "111111"})
    opened = client.post(url, {"answer": code})
    again = client.post(url, {"answer": code})

    assert "A code is on its way" in asked.content.decode()
    assert outbox.outbox == []  # the worker sends it, not the request
    assert (
        f"To: {RECIPIENT}" in message
        and link.token not in message
        and study.study_instance_uid not in message
    )
    assert wrong.status_code == 200 and "Wrong code." in wrong.content.decode()
    assert opened.status_code == 302 and opened["Location"] == reverse("share-link-home")
    assert again.status_code == 200 and "No code is waiting" in again.content.decode()
    stored = fresh(link)
    assert stored.use_count == 1 and stored.failed_attempts == 0 and stored.email_code_hash == ""
    assert code not in str(list(AuditEvent.objects.values_list("details", flat=True)))
    failed = AuditEvent.objects.get(action=AuditAction.SHARE_LINK_FAILED)
    assert failed.details["reason"] == "wrong_email_code"
    assert AuditEvent.objects.filter(action=AuditAction.SHARE_LINK_OPENED).count() == 1


def test_a_new_code_is_refused_within_a_minute_of_the_last(client, code_link, worker_factory):
    link, _ = code_link
    url = reverse("share-link-open", kwargs={"token": link.token})
    start_mail_worker(worker_factory)

    first = client.post(url, {"send_code": "1"})
    mails()
    second = client.post(url, {"send_code": "1"})

    assert "A code is on its way" in first.content.decode()
    assert "less than a minute ago" in second.content.decode()


def test_an_expired_code_is_not_taken_and_not_counted_as_a_guess(client, code_link, worker_factory):
    link, _ = code_link
    url = reverse("share-link-open", kwargs={"token": link.token})
    start_mail_worker(worker_factory)
    client.post(url, {"send_code": "1"})
    code = code_in(mails()[0])
    with tenant_scope(link.tenant):
        ShareLink.objects.filter(pk=link.pk).update(
            email_code_expires_at=timezone.now() - timedelta(seconds=1)
        )

    response = client.post(url, {"answer": code})

    assert response.status_code == 200 and "No code is waiting" in response.content.decode()
    assert fresh(link).failed_attempts == 0 and fresh(link).use_count == 0
