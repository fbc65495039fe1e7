"""Roles as Django groups, and what each may do.

Each role in ``Role`` is a group of the same name holding the permissions listed in
``ROLE_PERMISSIONS``; the operator group holds every permission of every app. The groups
are brought in line with this table after every ``migrate`` (a ``post_migrate`` handler,
see ``apps.py``) and by the ``tallylog staff`` commands, so the table is the one place
roles are defined.

Scope is a second, separate rule: a volunteer sees their own calls, a coordinator their
centre's, an operator all (``CallQuerySet.visible_to``).
"""

from __future__ import annotations

from typing import Any

from django.contrib.auth.models import Group, Permission
from django.db.models import Q

from tallylog.registry.volunteers.models import Role

ALL = "__all__"

VOLUNTEER_PERMISSIONS = (
    "volunteers.add_call",
    "volunteers.view_call",
    "volunteers.add_assisteddeclaration",
    "volunteers.view_assisteddeclaration",
)

ROLE_PERMISSIONS: dict[str, tuple[str, ...]] = {
    Role.VOLUNTEER: VOLUNTEER_PERMISSIONS,
    Role.COORDINATOR: VOLUNTEER_PERMISSIONS
    + (
        "volunteers.view_centre_calls",
        "volunteers.view_centre_stats",
        "volunteers.manage_centre_staff",
        "volunteers.add_centre",
        "volunteers.view_centre",
    ),
    Role.MODERATOR: (
        "declarations.view_declaration",
        "declarations.change_declaration",
    ),
    Role.OPERATOR: (ALL,),
}

# The permission that lets one moderate declarations (approve or reject those held for
# review); the registry's moderation queue and the Django admin check the same one.
MODERATE = "declarations.change_declaration"


def _permissions(names: tuple[str, ...]) -> list[Permission]:
    if names == (ALL,):
        return list(Permission.objects.all())
    query = Q(pk__in=[])
    for name in names:
        app_label, codename = name.split(".", 1)
        query |= Q(content_type__app_label=app_label, codename=codename)
    found = list(Permission.objects.filter(query).select_related("content_type"))
    missing = set(names) - {f"{p.content_type.app_label}.{p.codename}" for p in found}
    if missing:
        raise AssertionError(f"sync_roles: unknown permissions {sorted(missing)}")
    return found


def sync_roles() -> dict[str, Group]:
    """Create or update one group per role with exactly the permissions of
    ``ROLE_PERMISSIONS``. Idempotent; returns the groups by role."""
    groups = {}
    for role, names in ROLE_PERMISSIONS.items():
        group, _ = Group.objects.get_or_create(name=str(role))
        group.permissions.set(_permissions(names))
        groups[str(role)] = group
    return groups


def sync_roles_after_migrate(sender: Any, **kwargs: Any) -> None:
    """``post_migrate`` handler: run ``sync_roles`` once, after the signal reached the last
    installed app, when the permissions of every app exist."""
    from django.apps import apps

    if sender is list(apps.get_app_configs())[-1]:
        sync_roles()
