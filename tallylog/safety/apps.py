from django.apps import AppConfig


class SafetyConfig(AppConfig):
    name = "tallylog.safety"
    verbose_name = "trust and safety"

    def ready(self) -> None:
        from tallylog.safety import (
            checks,  # noqa: F401  (registers the system checks)
            logins,
        )

        logins.connect()
