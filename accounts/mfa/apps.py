from django.apps import AppConfig


class MfaConfig(AppConfig):
    name = "accounts.mfa"
    label = "mfa"
    verbose_name = "Second factors"

    def ready(self) -> None:
        from accounts.mfa import signals  # noqa: F401  (each sign-in starts without a second factor)
