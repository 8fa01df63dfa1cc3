"""Patient onboarding's Celery task: e-mailing an access code (portal.patients.services)."""

from celery import shared_task
from django.core.mail import send_mail
from django.template.loader import render_to_string
from django.urls import reverse
from django.utils import timezone

from portal.patients import codes, services


@shared_task(ignore_result=True, autoretry_for=(OSError,), retry_backoff=True, max_retries=5)
def send_patient_access_code(code_id: int, tenant_id: int, domain: str, use_https: bool) -> None:
    """Make the code of access code `code_id`, keep its hash and e-mail it. Takes IDs; the code is made
    here so that it never travels through the broker. The mail names neither the clinic nor the patient:
    others than the patient may read it."""
    made = services.make_emailed_code(code_id, tenant_id)
    if made is None:
        return
    code, plain = made
    body = render_to_string(
        "patients/access_code_email.txt",
        {
            "code": codes.grouped(plain),
            "join_url": f"{'https' if use_https else 'http'}://{domain}{reverse('patient-join')}",
            "expires_on": timezone.localdate(code.expires_at),
        },
    )
    send_mail("Your Palisade access code", body, None, [code.email])
