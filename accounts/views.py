"""Password change and reset: Django's views, with the audit trail, expiry and unlock added."""

from django.contrib.auth import views as auth_views
from django.contrib.auth.forms import PasswordResetForm
from django.http import HttpRequest, HttpResponse

import audit
from accounts.lockout import unlock
from accounts.middleware import PASSWORD_EXPIRED_SESSION_KEY
from accounts.models import SessionEndReason
from accounts.sessions.services import end_sessions_after_password_set
from audit.models import AuditAction


class AuditedPasswordResetForm(PasswordResetForm):
    """Records each reset e-mail sent. The page says the same whether or not the address has an
    account (Django's view), and nothing is recorded for an unknown address."""

    _request: HttpRequest | None = None

    def save(self, *args, request: HttpRequest | None = None, **kwargs) -> None:
        self._request = request
        super().save(*args, request=request, **kwargs)

    def send_mail(self, subject_template_name, email_template_name, context, *args, **kwargs) -> None:
        super().send_mail(subject_template_name, email_template_name, context, *args, **kwargs)
        user = context["user"]
        audit.record(
            AuditAction.PASSWORD_RESET_REQUESTED,
            request=self._request,
            actor=user,
            object_type="user",
            object_ids=[str(user.pk)],
        )


class PasswordResetView(auth_views.PasswordResetView):
    form_class = AuditedPasswordResetForm


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
