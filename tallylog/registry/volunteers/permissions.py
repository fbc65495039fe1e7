"""Roles, and what each may do: ``ROLE_PERMISSIONS`` is the one place roles are defined.

What a staff member may do follows their role as it is now, on every request: the
authentication backend (``RoleBackend``, ``AUTHENTICATION_BACKENDS``) answers every
permission check of a user with a ``Staff`` record from ``ROLE_PERMISSIONS[staff.role]``
alone (the operator: everything), never from groups or per-user permissions, and sets
``is_staff``/``is_superuser`` of the user it loads from the role (only an operator opens
the Django admin). A role changed in the admin, the console or the database takes effect
on the person's next request, signed-in sessions and API tokens included.

The stored copies follow too, for what reads them directly: each role is a Django group
of the same name holding the permissions of ``ROLE_PERMISSIONS`` (brought in line after
every ``migrate``, a ``post_migrate`` handler, see ``apps.py``, and by the ``tallylog
staff`` commands), and saving a ``Staff`` record puts its user in its role's group alone
and sets the user's ``is_staff``/``is_superuser`` from the role (``sync_user``).
Users without a staff record (a ``createsuperuser`` account) keep Django's rules.

Review holds follow rank (``RANK``): nobody changes the hold on themselves or on someone
of their rank or above, nor lifts a hold placed by a higher rank
(``tallylog.registry.volunteers.actions.set_review_required``).

Scope is a second, separate rule: a volunteer sees their own calls, a coordinator their
centre's, an operator all (``CallQuerySet.visible_to``).
"""

from __future__ import annotations

from typing import Any

from django.contrib.auth.backends import ModelBackend
from django.contrib.auth.models import Group, Permission
from django.db.models import Q

from tallylog.registry.volunteers.models import Role, Staff

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


# Who outranks whom, for review holds: higher may hold (and lift holds on) lower.
RANK: dict[str, int] = {Role.VOLUNTEER: 0, Role.COORDINATOR: 1, Role.MODERATOR: 2, Role.OPERATOR: 3}


def role_allows(role: str, perm: str) -> bool:
    """Whether ``role`` grants permission ``perm`` (``"app_label.codename"``)."""
    names = ROLE_PERMISSIONS.get(role, ())
    return names == (ALL,) or perm in names


def _staff(user: Any) -> Staff | None:
    try:
        return user.staff
    except (Staff.DoesNotExist, AttributeError):
        return None


def bind_to_role(user: Any) -> Any:
    """Set ``user``'s ``is_staff`` and ``is_superuser`` (in memory) from their staff
    record's current role: only an operator is staff (opens the admin); nobody but an
    operator is a superuser. Users without a staff record are left as they are. Returns
    ``user``. Called on every request's user by ``RoleBackend`` and for API tokens."""
    staff = _staff(user)
    if staff is not None:
        operator = staff.role == Role.OPERATOR
        user.is_staff = operator
        user.is_superuser = bool(user.is_superuser) and operator
    return user


def sync_user(staff: Staff) -> None:
    """Bring ``staff``'s user in line with their role in the database: the role's group
    alone, ``is_staff``/``is_superuser`` as ``bind_to_role`` sets them (``post_save`` of
    ``Staff``, see ``apps.py``)."""
    user = staff.user
    group = Group.objects.filter(name=str(staff.role)).first() or sync_roles()[str(staff.role)]
    if list(user.groups.all()) != [group]:
        user.groups.set([group])
    before = (user.is_staff, user.is_superuser)
    bind_to_role(user)
    if (user.is_staff, user.is_superuser) != before:
        user.save(update_fields=["is_staff", "is_superuser"])


def sync_user_after_save(sender: Any, instance: Staff, raw: bool = False, **kwargs: Any) -> None:
    """``post_save`` handler of ``Staff``: ``sync_user`` (not for fixtures loaded raw)."""
    if not raw:
        sync_user(instance)


def strip_user_after_delete(sender: Any, instance: Staff, **kwargs: Any) -> None:
    """``post_delete`` handler of ``Staff``: a user whose staff record is deleted keeps no
    role's group, ``is_staff`` or ``is_superuser`` (else, with no record, Django's rules
    would read the stale ones)."""
    from django.contrib.auth import get_user_model

    user = get_user_model()._default_manager.filter(pk=instance.user_id).first()
    if user is not None:
        user.groups.clear()
        user.is_staff = user.is_superuser = False
        user.save(update_fields=["is_staff", "is_superuser"])


class RoleBackend(ModelBackend):
    """Django's ``ModelBackend`` (passwords, users without a staff record), except that a
    staff member's permissions are their current role's (``ROLE_PERMISSIONS``), read on
    each request, and the user it loads is ``bind_to_role``'d."""

    def get_user(self, user_id: Any) -> Any:
        from django.contrib.auth import get_user_model

        User = get_user_model()
        try:
            user = User._default_manager.select_related("staff").get(pk=user_id)
        except User.DoesNotExist:
            return None
        return bind_to_role(user) if self.user_can_authenticate(user) else None

    def authenticate(self, request: Any, username: str | None = None, password: str | None = None, **kwargs: Any) -> Any:
        user = super().authenticate(request, username=username, password=password, **kwargs)
        return bind_to_role(user) if user is not None else None

    def get_user_permissions(self, user_obj: Any, obj: Any = None) -> set[str]:
        if _staff(user_obj) is not None:
            return set()  # a staff member's permissions are their role's alone
        return super().get_user_permissions(user_obj, obj)

    def get_group_permissions(self, user_obj: Any, obj: Any = None) -> set[str]:
        staff = _staff(user_obj)
        if staff is None:
            return super().get_group_permissions(user_obj, obj)
        if not user_obj.is_active or obj is not None:
            return set()
        names = ROLE_PERMISSIONS.get(staff.role, ())
        if names == (ALL,):
            return {f"{p.content_type.app_label}.{p.codename}" for p in _permissions(names)}
        return set(names)

    def has_perm(self, user_obj: Any, perm: str, obj: Any = None) -> bool:
        staff = _staff(user_obj)
        if staff is None:
            return super().has_perm(user_obj, perm, obj)
        return bool(user_obj.is_active) and obj is None and role_allows(staff.role, perm)

    def has_module_perms(self, user_obj: Any, app_label: str) -> bool:
        staff = _staff(user_obj)
        if staff is None:
            return super().has_module_perms(user_obj, app_label)
        names = ROLE_PERMISSIONS.get(staff.role, ())
        return bool(user_obj.is_active) and (
            names == (ALL,) or any(n.startswith(f"{app_label}.") for n in names)
        )
