"""Declarations: a person publicly withdraws from one or more organisations."""

from __future__ import annotations

from django.db import models

from tallylog.registry.campaigns.models import Campaign
from tallylog.registry.entries.models import LogEntry

ALIAS_MAX = 40
STATEMENT_MAX = 1000


class Channel(models.TextChoices):
    WEB = "web", "web"
    PHONE = "phone", "phone (volunteer)"
    API = "api", "API"
    IMPORT = "import", "bulk import"


class DeclarationQuerySet(models.QuerySet["Declaration"]):
    def pending(self) -> "DeclarationQuerySet":
        return self.filter(status=Declaration.Status.PENDING).order_by("id")

    def published(self) -> "DeclarationQuerySet":
        return self.filter(status=Declaration.Status.PUBLISHED)

    def visible(self) -> "DeclarationQuerySet":
        """Published and sequenced: what the public lists show."""
        return self.published().filter(entry__log_index__isnull=False)


class Declaration(models.Model):
    class Status(models.TextChoices):
        PENDING = "pending", "pending review"
        PUBLISHED = "published", "published"
        REJECTED = "rejected", "rejected"

    campaign = models.ForeignKey(Campaign, on_delete=models.PROTECT, related_name="declarations")
    # Public content (committed to by the leaf's ``commit``); blanked on redaction.
    alias = models.CharField(max_length=ALIAS_MAX, blank=True)
    statement = models.TextField(max_length=STATEMENT_MAX, blank=True)
    region = models.CharField(max_length=32, blank=True)
    declared_on = models.DateField(null=True, blank=True)  # historical date (bulk import)
    salt = models.BinaryField(max_length=32, null=True, blank=True)
    # Leaf fields.
    orgs = models.JSONField(default=list)  # sorted organisation codes
    channel = models.CharField(max_length=16, choices=Channel.choices, default=Channel.WEB)
    # HMAC-SHA256(receipt key, code): never the code itself.
    receipt_hash = models.BinaryField(max_length=32, unique=True)
    tag = models.CharField(max_length=64)  # leaf tag, SHA-256(prefix ‖ code), hex
    # Life cycle.
    status = models.CharField(max_length=16, choices=Status.choices, default=Status.PENDING)
    reject_reason = models.CharField(max_length=200, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    published_at = models.DateTimeField(null=True, blank=True)
    redacted_at = models.DateTimeField(null=True, blank=True)
    entry = models.OneToOneField(
        LogEntry, on_delete=models.PROTECT, null=True, blank=True, related_name="declaration"
    )

    objects = DeclarationQuerySet.as_manager()

    class Meta:
        indexes = [
            models.Index(fields=["campaign", "status", "id"], name="declaration_status_idx"),
        ]

    def __str__(self) -> str:
        return f"declaration {self.pk}"

    @property
    def is_redacted(self) -> bool:
        return self.redacted_at is not None

    def public_content(self) -> dict[str, str]:
        """The content the leaf's ``commit`` covers (``tallylog.leaf.commitment``)."""
        content = {"alias": self.alias, "statement": self.statement, "region": self.region}
        if self.declared_on is not None:
            content["declared_on"] = self.declared_on.isoformat()
        return content
