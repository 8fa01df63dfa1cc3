from django.contrib.auth.password_validation import validate_password
from django.db import transaction

from accounts.models import Membership, User
from accounts.roles import Role
from portal.models import Tenant


@transaction.atomic
def add_member(
    email: str, tenant: Tenant, role: Role, *, password: str | None = None
) -> tuple[Membership, bool]:
    """Give `email` the `role` in `tenant`, creating the user if missing. Returns (membership, user_created).

    A new user without a password cannot sign in until they reset it by e-mail.
    """
    email = User.objects.normalize_email(email).lower()
    user = User.objects.filter(email__iexact=email).first()
    created = user is None
    if created:
        user = User(email=email)
        user.full_clean(exclude=["password"])
    if password is not None:
        validate_password(password, user)
        user.set_password(password)
    elif created:
        user.set_unusable_password()
    user.save()
    membership, _ = Membership.objects.update_or_create(user=user, tenant=tenant, defaults={"role": role})
    return membership, created
