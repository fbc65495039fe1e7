"""Volunteers and calls: service centres, their staff, the calls they make and the
declarations they record on a caller's behalf (issue 4).

Nothing here is ever published. Which volunteer recorded which declaration
(``AssistedDeclaration``) is kept for the centre's coordinator and the operators only; the
log entry of a phone declaration carries ``channel: phone`` and nothing about the call.
A call is recorded without a phone number or a name: there is no field for either, and
the free-text note rejects anything that looks like a phone number
(``tallylog.registry.volunteers.validators``).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from django.conf import settings
from django.db import models
from django.utils import timezone
from django.utils.translation import gettext
from django.utils.translation import gettext_lazy as _

from tallylog.registry.declarations.models import Declaration
from tallylog.registry.volunteers.validators import known_region, not_in_future, reject_phone_number

if TYPE_CHECKING:
    from django.contrib.auth.models import AbstractBaseUser, AnonymousUser

NOTE_MAX = 500


class Role(models.TextChoices):
    """A staff member's role; each is a Django group of the same name
    (``tallylog.registry.volunteers.permissions.ROLE_PERMISSIONS``)."""

    VOLUNTEER = "volunteer", _("volunteer")
    COORDINATOR = "coordinator", _("coordinator")
    MODERATOR = "moderator", _("moderator")
    OPERATOR = "operator", _("operator")


# A volunteer belongs to exactly one centre; a coordinator runs at most one (none until
# they create it); moderators and operators belong to none.
CENTRE_ROLES = (Role.VOLUNTEER, Role.COORDINATOR)


class Outcome(models.TextChoices):
    NO_ANSWER = "no_answer", _("no answer")
    HUNG_UP = "hung_up", _("hung up")
    HOSTILE = "hostile", _("hostile")
    LISTENED = "listened", _("listened")
    THANKED = "thanked", _("thanked")
    DECLARED = "declared", _("declared")


class Language(models.TextChoices):
    """The language the call was held in."""

    MANDARIN = "mandarin", _("Mandarin")
    CANTONESE = "cantonese", _("Cantonese")
    OTHER_CHINESE = "other_chinese", _("another Chinese language")
    ENGLISH = "english", _("English")
    OTHER = "other", _("other")


class Duration(models.TextChoices):
    """How long the call lasted, in buckets (never an exact time)."""

    UNDER_1 = "lt1", _("under 1 minute")
    FROM_1 = "1-5", _("1 to 5 minutes")
    FROM_5 = "5-15", _("5 to 15 minutes")
    FROM_15 = "15-30", _("15 to 30 minutes")
    OVER_30 = "30+", _("over 30 minutes")


class Centre(models.Model):
    """A volunteer service centre, e.g. "Los Angeles"."""

    slug = models.SlugField(_("short name (slug)"), max_length=64, unique=True)
    name = models.CharField(_("name"), max_length=100, unique=True)
    created_at = models.DateTimeField(_("created at"), auto_now_add=True)

    class Meta:
        verbose_name = _("centre")
        verbose_name_plural = _("centres")
        ordering = ["name"]

    def __str__(self) -> str:
        return self.name


class StaffQuerySet(models.QuerySet["Staff"]):
    def active(self) -> StaffQuerySet:
        return self.filter(user__is_active=True)

    def at_centre(self, centre: Centre) -> StaffQuerySet:
        return self.filter(centre=centre)

    def managed_by(self, manager: Staff) -> StaffQuerySet:
        """The staff ``manager`` may manage: an operator all, a coordinator their centre's."""
        if manager.role == Role.OPERATOR:
            return self.all()
        if manager.role == Role.COORDINATOR and manager.centre_id:
            return self.filter(centre_id=manager.centre_id)
        return self.none()


class Staff(models.Model):
    """A staff member: a Django user with one role and, for volunteers and coordinators,
    one centre. ``review_required`` holds their recorded declarations for a moderator."""

    user = models.OneToOneField(
        settings.AUTH_USER_MODEL, verbose_name=_("user"), on_delete=models.CASCADE, related_name="staff"
    )
    role = models.CharField(_("role"), max_length=16, choices=Role.choices)
    centre = models.ForeignKey(
        Centre, verbose_name=_("centre"), on_delete=models.PROTECT, null=True, blank=True, related_name="staff"
    )
    review_required = models.BooleanField(_("declarations held for review"), default=False)
    # The role of whoever placed the hold ("" when none is placed): only that rank or a
    # higher one lifts it (``actions.set_review_required``).
    review_held_by = models.CharField(_("hold placed by"), max_length=16, choices=Role.choices, blank=True)
    created_at = models.DateTimeField(_("created at"), auto_now_add=True)

    objects = StaffQuerySet.as_manager()

    class Meta:
        verbose_name = _("staff member")
        verbose_name_plural = _("staff")
        ordering = ["user__username"]
        constraints = [
            models.CheckConstraint(
                condition=(
                    models.Q(role=Role.VOLUNTEER, centre__isnull=False)
                    | models.Q(role=Role.COORDINATOR)
                    | models.Q(role__in=[Role.MODERATOR, Role.OPERATOR], centre__isnull=True)
                ),
                name="staff_centre_matches_role",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.user.get_username()} ({self.get_role_display()})"


def staff_of(user: AbstractBaseUser | AnonymousUser) -> Staff | None:
    """The active staff record of ``user``, or None (anonymous, inactive, not staff)."""
    if not user.is_authenticated or not user.is_active:
        return None
    try:
        return user.staff  # type: ignore[attr-defined]  # the reverse one-to-one of Staff.user
    except Staff.DoesNotExist:
        return None


class CallQuerySet(models.QuerySet["Call"]):
    def visible_to(self, staff: Staff) -> CallQuerySet:
        """The calls ``staff`` may see: operators all, coordinators their centre's,
        volunteers their own."""
        if staff.user.has_perm("volunteers.view_all_calls"):
            return self.all()
        if staff.user.has_perm("volunteers.view_centre_calls") and staff.centre_id:
            return self.filter(centre_id=staff.centre_id)
        if staff.user.has_perm("volunteers.view_call"):
            return self.filter(volunteer_id=staff.user_id)
        return self.none()

    def at_centre(self, centre: Centre | None) -> CallQuerySet:
        return self if centre is None else self.filter(centre=centre)


class Call(models.Model):
    """One outreach call: its outcome and circumstances, never who was called."""

    centre = models.ForeignKey(Centre, verbose_name=_("centre"), on_delete=models.PROTECT, related_name="calls")
    volunteer = models.ForeignKey(
        settings.AUTH_USER_MODEL, verbose_name=_("volunteer"),
        on_delete=models.SET_NULL, null=True, related_name="calls"
    )
    called_on = models.DateField(_("date of the call"), validators=[not_in_future])
    outcome = models.CharField(_("outcome"), max_length=16, choices=Outcome.choices)
    language = models.CharField(_("language"), max_length=16, choices=Language.choices)
    region = models.CharField(_("region"), max_length=32, blank=True, validators=[known_region])
    duration = models.CharField(_("duration"), max_length=8, choices=Duration.choices)
    note = models.CharField(_("note"), max_length=NOTE_MAX, blank=True, validators=[reject_phone_number])
    # Declarations recorded during this call; kept equal to the number of its
    # AssistedDeclaration rows by ``record_declaration`` (same transaction).
    declarations = models.PositiveIntegerField(_("declarations recorded"), default=0)
    created_at = models.DateTimeField(_("created at"), auto_now_add=True)

    objects = CallQuerySet.as_manager()

    class Meta:
        verbose_name = _("call")
        verbose_name_plural = _("calls")
        ordering = ["-called_on", "-id"]
        indexes = [models.Index(fields=["centre", "called_on"], name="call_centre_day_idx")]
        permissions = [
            ("view_centre_calls", "Can see the calls and recorded declarations of their own centre"),
            ("view_all_calls", "Can see the calls and recorded declarations of every centre"),
            ("view_centre_stats", "Can see the outreach statistics of their own centre"),
            ("view_all_stats", "Can see the outreach statistics of every centre"),
            ("manage_centre_staff", "Can add volunteers to their own centre and require review"),
            ("manage_all_staff", "Can manage the staff of every centre"),
        ]

    def __str__(self) -> str:
        return gettext("call %(id)s (%(outcome)s)") % {"id": self.pk, "outcome": self.get_outcome_display()}


class AssistedDeclarationQuerySet(models.QuerySet["AssistedDeclaration"]):
    def visible_to(self, staff: Staff) -> AssistedDeclarationQuerySet:
        """Same rule as ``CallQuerySet.visible_to``: a volunteer sees only their own."""
        if staff.user.has_perm("volunteers.view_all_calls"):
            return self.all()
        if staff.user.has_perm("volunteers.view_centre_calls") and staff.centre_id:
            return self.filter(centre_id=staff.centre_id)
        if staff.user.has_perm("volunteers.view_assisteddeclaration"):
            return self.filter(volunteer_id=staff.user_id)
        return self.none()


class AssistedDeclaration(models.Model):
    """Internal record of which volunteer recorded which declaration, during which call.

    Never published: not on any public page, not in the log, not in the public API.
    """

    declaration = models.OneToOneField(
        Declaration, verbose_name=_("declaration"), on_delete=models.PROTECT, related_name="assisted"
    )
    call = models.ForeignKey(Call, verbose_name=_("call"), on_delete=models.PROTECT, related_name="recorded")
    centre = models.ForeignKey(Centre, verbose_name=_("centre"), on_delete=models.PROTECT, related_name="recorded")
    volunteer = models.ForeignKey(
        settings.AUTH_USER_MODEL, verbose_name=_("volunteer"),
        on_delete=models.SET_NULL, null=True, related_name="recorded"
    )
    created_at = models.DateTimeField(_("recorded at"), auto_now_add=True)

    objects = AssistedDeclarationQuerySet.as_manager()

    class Meta:
        verbose_name = _("declaration recorded by a volunteer")
        verbose_name_plural = _("declarations recorded by volunteers")
        ordering = ["-id"]

    def __str__(self) -> str:
        return gettext("declaration %(id)s") % {"id": self.declaration_id}


class ApiTokenQuerySet(models.QuerySet["ApiToken"]):
    def usable(self) -> ApiTokenQuerySet:
        """Not revoked, not expired, of an active user."""
        return self.filter(revoked_at__isnull=True, user__is_active=True, expires_at__gt=timezone.now())


class ApiToken(models.Model):
    """A bearer token for the console API; only its SHA-256 digest is stored."""

    user = models.ForeignKey(
        settings.AUTH_USER_MODEL, verbose_name=_("user"), on_delete=models.CASCADE, related_name="api_tokens"
    )
    digest = models.CharField(_("digest (SHA-256)"), max_length=64, unique=True)
    name = models.CharField(_("name"), max_length=100, blank=True)
    created_at = models.DateTimeField(_("created at"), auto_now_add=True)
    expires_at = models.DateTimeField(_("expires at"))
    revoked_at = models.DateTimeField(_("revoked at"), null=True, blank=True)

    objects = ApiTokenQuerySet.as_manager()

    class Meta:
        verbose_name = _("API token")
        verbose_name_plural = _("API tokens")

    def __str__(self) -> str:
        return f"token {self.pk} of {self.user_id}"
