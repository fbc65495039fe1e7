"""Log entries: every published declaration or signature, from publication until forever.

The sequencer (``tallylog.registry.entries.sequencer``) is the only writer of
``LogEntry.log_index``, ``LogState`` and ``TallyCount``; it updates them in one
transaction per batch (ARCHITECTURE.md, "The sequencer's commit protocol", step 4).
"""

from __future__ import annotations

from django.db import models

from tallylog.registry.campaigns.models import Campaign


class LogEntryQuerySet(models.QuerySet["LogEntry"]):
    def awaiting_sequence(self) -> "LogEntryQuerySet":
        """Published entries without a log index, in the fixed order the sequencer takes them."""
        return self.filter(log_index__isnull=True).order_by("id")

    def sequenced(self) -> "LogEntryQuerySet":
        return self.filter(log_index__isnull=False)


class LogEntry(models.Model):
    """One leaf of the log. Created at publication; the sequencer fills in the rest.

    ``body`` holds the leaf fields known at publication (everything but ``day``); the
    sequencer adds ``day`` (UTC day of sequencing), encodes ``leaf`` with
    ``tallylog.leaf.encode_leaf`` and assigns ``log_index``.
    """

    campaign = models.ForeignKey(Campaign, on_delete=models.PROTECT, related_name="log_entries")
    kind = models.CharField(max_length=16)
    channel = models.CharField(max_length=16)
    body = models.JSONField()
    published_at = models.DateTimeField(auto_now_add=True)
    log_index = models.PositiveBigIntegerField(null=True, blank=True, unique=True)
    day = models.DateField(null=True, blank=True)
    leaf = models.BinaryField(null=True, blank=True)
    sequenced_at = models.DateTimeField(null=True, blank=True)

    objects = LogEntryQuerySet.as_manager()

    class Meta:
        indexes = [
            models.Index(
                fields=["id"], name="entry_awaiting_idx", condition=models.Q(log_index__isnull=True)
            ),
        ]

    def __str__(self) -> str:
        return f"entry {self.log_index if self.log_index is not None else '(unsequenced)'}"


class LogState(models.Model):
    """The committed state of the tree: one row, id 1 (ARCHITECTURE.md step 4)."""

    size = models.PositiveBigIntegerField(default=0)
    root = models.BinaryField(max_length=32)
    checkpoint = models.TextField(blank=True)  # the latest signed checkpoint note
    updated_at = models.DateTimeField(auto_now=True)


class TallyCountQuerySet(models.QuerySet["TallyCount"]):
    def for_campaign(self, campaign: Campaign, dimension: str) -> dict[str, int]:
        return dict(
            self.filter(campaign=campaign, dimension=dimension).values_list("key", "count")
        )


class TallyCount(models.Model):
    """Maintained aggregate of sequenced entries, updated in the sequencing transaction.

    ``dimension`` is one of ``total`` (key ``""``), ``org``, ``day`` (``YYYY-MM-DD``)
    or ``channel``: exactly what ``tallylog recount`` can recompute from the leaves. The
    public tally is read from here, never by counting rows.
    """

    campaign = models.ForeignKey(Campaign, on_delete=models.CASCADE, related_name="tally_counts")
    dimension = models.CharField(max_length=16)
    key = models.CharField(max_length=64, blank=True)
    count = models.PositiveBigIntegerField(default=0)

    objects = TallyCountQuerySet.as_manager()

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["campaign", "dimension", "key"], name="tally_count_unique"
            ),
        ]


class Milestone(models.Model):
    """A threshold a campaign's tally crossed, with the checkpoint that proves it."""

    campaign = models.ForeignKey(Campaign, on_delete=models.CASCADE, related_name="milestones_reached")
    threshold = models.PositiveBigIntegerField()
    reached_at = models.DateTimeField()
    tree_size = models.PositiveBigIntegerField()
    checkpoint = models.TextField(blank=True)

    class Meta:
        ordering = ["campaign_id", "threshold"]
        constraints = [
            models.UniqueConstraint(fields=["campaign", "threshold"], name="milestone_unique"),
        ]
