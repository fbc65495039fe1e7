"""Declarations: a person publicly withdraws from one or more organisations."""

from __future__ import annotations

import datetime
from typing import Any

from django.conf import settings
from django.db import models
from django.utils.translation import gettext
from django.utils.translation import gettext_lazy as _

from tallylog.registry.campaigns.models import Campaign
from tallylog.registry.entries.models import LogEntry

ALIAS_MAX = 40
STATEMENT_MAX = 1000
REGION_MAX = 32
REASON_MAX = 200


class Channel(models.TextChoices):
    """How a declaration reached the service; public (it is in the leaf) and counted apart on
    the transparency page. The staff channels are recorded by a volunteer in the console."""

    WEB = "web", _("web form")
    PHONE = "phone", _("phone, through a volunteer")
    EMAIL = "email", _("email")
    FAX = "fax", _("fax")
    LETTER = "letter", _("letter")
    IN_PERSON = "in-person", _("in person")
    API = "api", _("API")
    IMPORT = "import", _("bulk import")


# The channels a volunteer records in the console, in the order the intake form offers them.
STAFF_CHANNELS = (Channel.PHONE, Channel.EMAIL, Channel.FAX, Channel.LETTER, Channel.IN_PERSON)


class RedactedBy(models.TextChoices):
    DECLARANT = "declarant", _("the declarant")
    MODERATOR = "moderator", _("a moderator")


class RedactionReason(models.TextChoices):
    """Why a moderator removed a declaration's content: published with the removal."""

    PERSONAL_DATA = "personal_data", _("personal data")
    ABUSE = "abuse", _("abuse")
    DUPLICATE = "duplicate", _("duplicate")
    LEGAL_REQUEST = "legal_request", _("legal request")
    OTHER = "other", _("other")


class DeclarationQuerySet(models.QuerySet["Declaration"]):
    def pending(self) -> DeclarationQuerySet:
        return self.filter(status=Declaration.Status.PENDING).order_by("id")

    def published(self) -> DeclarationQuerySet:
        return self.filter(status=Declaration.Status.PUBLISHED)

    def rejected(self) -> DeclarationQuerySet:
        return self.filter(status=Declaration.Status.REJECTED)

    def visible(self) -> DeclarationQuerySet:
        """Published and sequenced: what the public lists show."""
        return self.published().filter(entry__log_index__isnull=False)

    def for_campaign(self, campaign: Campaign) -> DeclarationQuerySet:
        return self.filter(campaign=campaign)

    def newest_first(self) -> DeclarationQuerySet:
        """Visible declarations by descending log index (keyset-paginate on ``entry__log_index``)."""
        return self.visible().select_related("entry").order_by("-entry__log_index")

    def listed(self, campaign: Campaign) -> DeclarationQuerySet:
        """A campaign's visible declarations newest first, as one index range scan whatever
        the size of the log: the filter on the entry's campaign lets the database walk the
        ``(campaign, log_index)`` index of log entries backwards (no scan, no sort), joining
        each entry to its declaration by the unique ``entry`` key. Page with
        ``in_index_range``; the web list and the JSON API list both read this."""
        return self.for_campaign(campaign).newest_first().filter(entry__campaign=campaign)

    def in_index_range(
        self,
        day: datetime.date | None = None,
        *,
        before: int | None = None,
        after: int | None = None,
    ) -> DeclarationQuerySet:
        """Rows whose log index is below ``before`` and above ``after`` and, with ``day``, in
        that UTC day's index range [start, end) from ``LogDay`` (subqueries: still one query;
        no range for the day: nothing was sequenced on it). One lower and one upper bound
        (``GREATEST``/``LEAST`` of the day's end and the cursor), so the index walk starts
        at the cursor, not at the day's end."""
        from django.db.models import Subquery, Value
        from django.db.models.functions import Greatest, Least

        from tallylog.registry.entries.models import LogDay

        lower: Any = None if after is None else after + 1
        upper: Any = before
        rows = self
        if day is not None:
            span = LogDay.objects.filter(day=day)
            start, end = Subquery(span.values("start")[:1]), Subquery(span.values("end")[:1])
            lower = start if lower is None else Greatest(start, Value(lower))
            upper = end if upper is None else Least(end, Value(upper))
        if lower is not None:
            rows = rows.filter(entry__log_index__gte=lower)
        if upper is not None:
            rows = rows.filter(entry__log_index__lt=upper)
        return rows

    def on_day(self, day: datetime.date) -> DeclarationQuerySet:
        """Declarations whose leaf was sequenced on UTC ``day``."""
        return self.filter(entry__day=day)

    def with_org(self, code: str) -> DeclarationQuerySet:
        """Declarations withdrawing from organisation ``code``."""
        return self.filter(orgs__contains=[code]) if _json_contains_supported() else self.filter(
            orgs__icontains=f'"{code}"'
        )

    def by_receipt_hash(self, digest: bytes) -> DeclarationQuerySet:
        return self.filter(receipt_hash=digest)


def _json_contains_supported() -> bool:
    from django.db import connection

    return bool(connection.features.supports_json_field_contains)


class Declaration(models.Model):
    class Status(models.TextChoices):
        PENDING = "pending", _("pending review")
        PUBLISHED = "published", _("published")
        REJECTED = "rejected", _("rejected")

    # No index of its own: ``declaration_status_idx`` starts with the campaign and serves
    # every lookup by it (one index fewer to write per declaration, and to store).
    campaign = models.ForeignKey(
        Campaign, verbose_name=_("campaign"), on_delete=models.PROTECT, related_name="declarations", db_index=False
    )
    # Public content (committed to by the leaf's ``commit``); blanked on redaction.
    alias = models.CharField(_("alias"), max_length=ALIAS_MAX, blank=True)
    statement = models.TextField(_("statement"), max_length=STATEMENT_MAX, blank=True)
    region = models.CharField(_("region"), max_length=REGION_MAX, blank=True)
    declared_on = models.DateField(_("declared on"), null=True, blank=True)  # historical date (bulk import)
    salt = models.BinaryField(_("salt"), max_length=32, null=True, blank=True)
    # Leaf fields.
    orgs = models.JSONField(_("organisations"), default=list)  # sorted organisation codes
    channel = models.CharField(_("channel"), max_length=16, choices=Channel.choices, default=Channel.WEB)
    # HMAC-SHA256(receipt key, code): never the code itself.
    receipt_hash = models.BinaryField(_("receipt hash"), max_length=32, unique=True)
    tag = models.CharField(_("tag"), max_length=64)  # leaf tag, tallylog.leaf.receipt_tag(code, tag_salt), hex
    # The leaf's public tag salt (32 hex digits); NULL for declarations made before leaf v2,
    # whose tag is unsalted (tallylog.leaf.receipt_tag_v1). Nullable: adding it rewrites no table.
    tag_salt = models.CharField(_("tag salt"), max_length=32, null=True, blank=True)  # noqa: DJ001 (NULL: before v2)
    # Life cycle.
    status = models.CharField(_("status"), max_length=16, choices=Status.choices, default=Status.PENDING)
    reject_reason = models.CharField(_("reason for rejecting"), max_length=REASON_MAX, blank=True)
    created_at = models.DateTimeField(_("created at"), auto_now_add=True)
    published_at = models.DateTimeField(_("published at"), null=True, blank=True)
    # Who published or rejected it (null: the campaign's automatic policy, or a deleted user).
    moderated_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, verbose_name=_("moderated by"),
        on_delete=models.SET_NULL, null=True, blank=True, related_name="+"
    )
    redacted_at = models.DateTimeField(_("removed at"), null=True, blank=True)
    redacted_by = models.CharField(_("removed by"), max_length=16, choices=RedactedBy.choices, blank=True)
    # A moderator's removal only: its published reason category ("" for the declarant's own).
    redaction_reason = models.CharField(
        _("reason for removal"), max_length=16, choices=RedactionReason.choices, blank=True
    )
    entry = models.OneToOneField(
        LogEntry, verbose_name=_("log entry"),
        on_delete=models.PROTECT, null=True, blank=True, related_name="declaration"
    )
    # Made before its public URL became its log index (issue 15): its old URL, by this
    # database id, still answers. Newer ids are never public (they follow submission order).
    legacy_url = models.BooleanField(_("old address still answers"), default=False)

    objects = DeclarationQuerySet.as_manager()

    # Cut to midnight UTC of the log day by the sequencer, in the transaction that logs the
    # entry (tallylog.registry.entries.sequencer.blur_times; SECURITY.md, "Times blurred").
    DAY_ONLY_FIELDS = ("created_at", "published_at")

    class Meta:
        verbose_name = _("declaration")
        verbose_name_plural = _("declarations")
        indexes = [
            models.Index(fields=["campaign", "status", "id"], name="declaration_status_idx"),
        ]

    def __str__(self) -> str:
        return gettext("declaration %(id)s") % {"id": self.pk}

    @property
    def is_published(self) -> bool:
        return self.status == Declaration.Status.PUBLISHED

    @property
    def log_index(self) -> int | None:
        """The entry's index in the log, or None until it is sequenced."""
        return self.entry.log_index if self.entry is not None else None

    @property
    def is_redacted(self) -> bool:
        return self.redacted_at is not None

    def public_content(self) -> dict[str, str]:
        """The content the leaf's ``commit`` covers (``tallylog.leaf.commitment``)."""
        content = {"alias": self.alias, "statement": self.statement, "region": self.region}
        if self.declared_on is not None:
            content["declared_on"] = self.declared_on.isoformat()
        return content
