"""Sign-in starts a UserSession, sign-out ends it; a change of a user's rights ends their sessions."""

from django.contrib.auth.signals import user_logged_in, user_logged_out
from django.db.models.signals import post_delete, post_save, pre_save
from django.dispatch import receiver
from django.utils import timezone

from accounts.models import Membership, SessionEndReason, User, UserSession
from accounts.sessions import services

# What a user may do comes from these flags and from their memberships (role per clinic).
_RIGHTS_FIELDS = ("is_active", "is_staff", "is_superuser")


@receiver(user_logged_in, dispatch_uid="accounts-session-start")
def _signed_in(sender, request, user, **kwargs) -> None:
    if getattr(request, "session", None) is None:
        return
    # Signing in again over a session (the same person, or another one) replaces it.
    previous = getattr(request, "user_session", None)
    if previous is not None and previous.ended_at is None:
        services.end_session(previous, SessionEndReason.SIGNED_OUT)
    services.start_session(request, user)


@receiver(user_logged_out, dispatch_uid="accounts-session-end")
def _signed_out(sender, request, user, **kwargs) -> None:
    # Sent before logout() flushes the session, while it still has its key.
    key = getattr(getattr(request, "session", None), "session_key", None)
    if key:
        UserSession.objects.filter(key_digest=services.key_digest(key), ended_at__isnull=True).update(
            ended_at=timezone.now(), ended_reason=SessionEndReason.SIGNED_OUT
        )


@receiver(pre_save, sender=User, dispatch_uid="accounts-session-rights-before")
def _remember_user_rights(sender, instance: User, raw: bool = False, update_fields=None, **kwargs) -> None:
    if raw or instance.pk is None:
        return
    if update_fields is not None and not set(update_fields) & set(_RIGHTS_FIELDS):
        return  # update_last_login at every sign-in, for one
    instance._rights_before = User.objects.filter(pk=instance.pk).values_list(*_RIGHTS_FIELDS).first()


@receiver(post_save, sender=User, dispatch_uid="accounts-session-rights-after")
def _user_rights_changed(sender, instance: User, created: bool, raw: bool = False, **kwargs) -> None:
    before = instance.__dict__.pop("_rights_before", None)
    if created or raw or before is None:
        return
    if tuple(getattr(instance, field) for field in _RIGHTS_FIELDS) == before:
        return
    disabled = before[0] and not instance.is_active
    reason = SessionEndReason.ACCOUNT_DISABLED if disabled else SessionEndReason.PRIVILEGE_CHANGED
    services.end_sessions_after_rights_change(instance.pk, reason)


@receiver(pre_save, sender=Membership, dispatch_uid="accounts-session-membership-before")
def _remember_membership(sender, instance: Membership, raw: bool = False, **kwargs) -> None:
    if raw or instance.pk is None:
        return
    instance._grant_before = (
        Membership.objects.filter(pk=instance.pk).values_list("user_id", "tenant_id", "role").first()
    )


@receiver(post_save, sender=Membership, dispatch_uid="accounts-session-membership-after")
def _membership_saved(sender, instance: Membership, created: bool, raw: bool = False, **kwargs) -> None:
    before = instance.__dict__.pop("_grant_before", None)
    if raw:
        return
    if not created and before == (instance.user_id, instance.tenant_id, instance.role):
        return
    if before is not None and before[0] != instance.user_id:
        services.end_sessions_after_rights_change(before[0], SessionEndReason.PRIVILEGE_CHANGED)
    services.end_sessions_after_rights_change(instance.user_id, SessionEndReason.PRIVILEGE_CHANGED)


@receiver(post_delete, sender=Membership, dispatch_uid="accounts-session-membership-deleted")
def _membership_deleted(sender, instance: Membership, **kwargs) -> None:
    services.end_sessions_after_rights_change(instance.user_id, SessionEndReason.PRIVILEGE_CHANGED)
