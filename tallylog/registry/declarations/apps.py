from django.apps import AppConfig


class DeclarationsConfig(AppConfig):
    name = "tallylog.registry.declarations"
    label = "declarations"
    default_auto_field = "django.db.models.BigAutoField"
