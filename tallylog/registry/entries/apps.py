from django.apps import AppConfig
from django.utils.translation import gettext_lazy as _


class EntriesConfig(AppConfig):
    name = "tallylog.registry.entries"
    label = "entries"
    verbose_name = _("Transparency log")
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self) -> None:
        from tallylog import checks

        checks.register()
