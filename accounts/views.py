"""Password change and reset: Django's views, with the audit trail, expiry and unlock added."""

import logging

from django.contrib.auth import views as auth_views
from django.contrib.auth.forms import PasswordResetForm
from django.http import HttpResponse, HttpResponseRedirect
from kombu.exceptions import OperationalError as BrokerError

import audit
from accounts.lockout import unlock
from accounts.middleware import PASSWORD_EXPIRED_SESSION_KEY
from accounts.models import SessionEndReason
from accounts.sessions.services import end_sessions_after_password_set
from audit.models import AuditAction

logger = logging.getLogger(__name__)


class AuditedPasswordResetForm(PasswordResetForm):
    """Records each reset e-mail sent; nothing is recorded for an address without an account. The event
    is written before the mail goes out: a worker that dies in between leaves an event for a mail that
    may not have left (retried later), never a mail that the trail does not know of."""

    _source_address: str | None = None

    def save(self, *args, source_address: str | None = None, **kwargs) -> None:
        self._source_address = source_address
        super().save(*args, **kwargs)

    def send_mail(self, subject_template_name, email_template_name, context, *args, **kwargs) -> None:
        user = context["user"]
        audit.record(
            AuditAction.PASSWORD_RESET_REQUESTED,
            actor=user,
            object_type="user",
            object_ids=[str(user.pk)],
            source_address=self._source_address,
        )
        super().send_mail(subject_template_name, email_template_name, context, *args, **kwargs)


class PasswordResetView(auth_views.PasswordResetView):
    """The page says the same for every address (Django's view), and it takes as long: finding the
    account and sending the mail, which waits on the mail server, happen in a worker for every address
    asked for, so the answer's timing does not tell whether the address has an account."""

    form_class = AuditedPasswordResetForm

    def form_valid(self, form) -> HttpResponse:
        from accounts.tasks import send_password_reset_email

        arguments = (
            form.cleaned_data["email"],
            self.request.get_host(),
            self.request.is_secure(),
            self.request.META.get("REMOTE_ADDR") or None,
        )
        try:
            send_password_reset_email.delay(*arguments)
        except BrokerError:
            # Without a broker the mail is sent here: a reset link that arrives matters more than
            # timing equal to the millisecond while the broker is down.
            logger.warning("Broker unreachable; a password reset e-mail is sent in the request")
            send_password_reset_email(*arguments)
        return HttpResponseRedirect(self.get_success_url())


class PasswordResetConfirmView(auth_views.PasswordResetConfirmView):
    """Setting a new password through the e-mailed link also lifts a sign-in lockout: whoever holds the
    mailbox is the account's owner, which is what the lockout was waiting to learn."""

    def form_valid(self, form) -> HttpResponse:
        response = super().form_valid(form)
        user = form.user
        audit.record(
            AuditAction.PASSWORD_RESET,
            request=self.request,
            actor=user,
            object_type="user",
            object_ids=[str(user.pk)],
        )
        unlock(user, request=self.request, by="password_reset", actor=user)
        end_sessions_after_password_set(self.request, user, SessionEndReason.PASSWORD_RESET)
        return response


class PasswordChangeView(auth_views.PasswordChangeView):
    def get_context_data(self, **kwargs) -> dict:
        context = super().get_context_data(**kwargs)
        context["password_expired"] = bool(self.request.session.get(PASSWORD_EXPIRED_SESSION_KEY))
        return context

    def form_valid(self, form) -> HttpResponse:
        response = super().form_valid(form)
        self.request.session.pop(PASSWORD_EXPIRED_SESSION_KEY, None)
        audit.record(
            AuditAction.PASSWORD_CHANGED,
            request=self.request,
            object_type="user",
            object_ids=[str(form.user.pk)],
            details={"by": "self"},
        )
        # Django's update_session_auth_hash kept this session (under a new key); every other one ends.
        end_sessions_after_password_set(self.request, form.user, SessionEndReason.PASSWORD_CHANGED)
        return response
