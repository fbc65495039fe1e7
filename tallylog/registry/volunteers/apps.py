from django.apps import AppConfig


class VolunteersConfig(AppConfig):
    name = "tallylog.registry.volunteers"
    label = "volunteers"
    default_auto_field = "django.db.models.BigAutoField"
