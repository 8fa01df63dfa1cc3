from django.apps import AppConfig


class SsoConfig(AppConfig):
    name = "accounts.sso"
    label = "sso"
    verbose_name = "Single sign-on"

    def ready(self) -> None:
        from accounts.sso import signals  # noqa: F401  (each sign-in starts without the IdP's MFA)
