from django.apps import AppConfig
from django.db.models.signals import post_migrate


class VolunteersConfig(AppConfig):
    name = "tallylog.registry.volunteers"
    label = "volunteers"
    verbose_name = "Volunteers and calls"
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self) -> None:
        from tallylog.registry.volunteers.permissions import sync_roles_after_migrate

        post_migrate.connect(sync_roles_after_migrate, dispatch_uid="tallylog.volunteers.roles")
