from django.apps import AppConfig
from django.db.models.signals import post_delete, post_migrate, post_save
from django.utils.translation import gettext_lazy as _


class VolunteersConfig(AppConfig):
    name = "tallylog.registry.volunteers"
    label = "volunteers"
    verbose_name = _("Volunteers and calls")
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self) -> None:
        from tallylog.registry.volunteers.models import Staff
        from tallylog.registry.volunteers.permissions import (
            strip_user_after_delete,
            sync_roles_after_migrate,
            sync_user_after_save,
        )

        post_migrate.connect(sync_roles_after_migrate, dispatch_uid="tallylog.volunteers.roles")
        post_save.connect(sync_user_after_save, sender=Staff, dispatch_uid="tallylog.volunteers.sync_user")
        post_delete.connect(strip_user_after_delete, sender=Staff, dispatch_uid="tallylog.volunteers.strip_user")
