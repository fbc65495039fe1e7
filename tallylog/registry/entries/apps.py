from django.apps import AppConfig


class EntriesConfig(AppConfig):
    name = "tallylog.registry.entries"
    label = "entries"
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self) -> None:
        from tallylog import checks

        checks.register()
