from django.apps import AppConfig


class AccountsConfig(AppConfig):
    name = "accounts"
    verbose_name = "Users and memberships"

    def ready(self) -> None:
        from accounts import signals  # noqa: F401  (password expiry at sign-in, a policy per new clinic)
        from accounts.sessions import signals as session_signals  # noqa: F401  (session control)
