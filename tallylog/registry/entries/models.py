"""Log entries: every published declaration or signature, from publication until forever.

The sequencer (``tallylog.registry.entries.sequencer``) is the only writer of
``LogEntry.log_index``, ``LogState`` and ``TallyCount``; it updates them in one
transaction per batch (ARCHITECTURE.md, "The sequencer's commit protocol", step 4).
"""

from __future__ import annotations

import hashlib

from django.db import models
from django.utils.translation import gettext
from django.utils.translation import gettext_lazy as _

from tallylog.registry.campaigns.models import Campaign

# RFC 6962 §2.1: the hash of an empty list is the hash of an empty string.
EMPTY_ROOT = hashlib.sha256(b"").digest()


class LogEntryQuerySet(models.QuerySet["LogEntry"]):
    def awaiting_sequence(self) -> LogEntryQuerySet:
        """Published entries without a log index, in the fixed order the sequencer takes them."""
        return self.filter(log_index__isnull=True).order_by("id")

    def sequenced(self) -> LogEntryQuerySet:
        return self.filter(log_index__isnull=False)


class LogEntry(models.Model):
    """One leaf of the log. Created at publication; the sequencer fills in the rest.

    ``body`` holds the leaf fields known at publication (everything but ``day``); the
    sequencer adds ``day`` (UTC day of sequencing), encodes ``leaf`` with
    ``tallylog.leaf.encode_leaf`` and assigns ``log_index``.
    """

    # No index of its own: ``entry_campaign_index_idx`` starts with the campaign.
    campaign = models.ForeignKey(
        Campaign, verbose_name=_("campaign"), on_delete=models.PROTECT, related_name="log_entries", db_index=False
    )
    kind = models.CharField(_("kind"), max_length=16)
    channel = models.CharField(_("channel"), max_length=16)
    body = models.JSONField(_("body"))
    published_at = models.DateTimeField(_("published at"), auto_now_add=True)
    log_index = models.PositiveBigIntegerField(_("log index"), null=True, blank=True, unique=True)
    day = models.DateField(_("day (UTC)"), null=True, blank=True)
    leaf = models.BinaryField(_("leaf"), null=True, blank=True)
    sequenced_at = models.DateTimeField(_("sequenced at"), null=True, blank=True)

    objects = LogEntryQuerySet.as_manager()

    class Meta:
        verbose_name = _("log entry")
        verbose_name_plural = _("log entries")
        indexes = [
            models.Index(
                fields=["id"], name="entry_awaiting_idx", condition=models.Q(log_index__isnull=True)
            ),
            # The public declarations list: a campaign's entries newest first, keyset on log_index.
            models.Index(fields=["campaign", "log_index"], name="entry_campaign_index_idx"),
        ]

    def __str__(self) -> str:
        if self.log_index is None:
            return gettext("entry (not yet sequenced)")
        return gettext("entry %(index)s") % {"index": self.log_index}


class LogState(models.Model):
    """The committed state of the tree: one row, id 1 (ARCHITECTURE.md step 4)."""

    size = models.PositiveBigIntegerField(_("size"), default=0)
    root = models.BinaryField(_("root hash"), max_length=32)
    checkpoint = models.TextField(_("checkpoint"), blank=True)  # the latest signed checkpoint note
    updated_at = models.DateTimeField(_("updated at"), auto_now=True)
    # The sequencer's heartbeat: when it last finished a pass (written at least every
    # HEARTBEAT seconds while it runs), for the transparency page's sequencing lag.
    last_pass_at = models.DateTimeField(_("last sequencer pass"), null=True, blank=True)

    class Meta:
        verbose_name = _("log state")
        verbose_name_plural = _("log state")

    def __str__(self) -> str:
        return f"log state: size {self.size}"

    @classmethod
    def current(cls) -> LogState:
        """The committed state (size 0 and the empty root before the first batch)."""
        state = cls.objects.filter(pk=1).first()
        if state is None:
            return cls(pk=1, size=0, root=EMPTY_ROOT, checkpoint="")
        state.root = bytes(state.root)
        return state


class LogDayQuerySet(models.QuerySet["LogDay"]):
    def index(self) -> list[dict[str, object]]:
        """The public day index: ``[{"day": "YYYY-MM-DD", "start": n, "end": m}, …]`` (end exclusive)."""
        return [
            {"day": d.isoformat(), "start": start, "end": end}
            for d, start, end in self.order_by("day").values_list("day", "start", "end")
        ]


class LogDay(models.Model):
    """The log index range [start, end) of the entries sequenced on one UTC day.

    Days are sequenced in order, so the ranges are contiguous and ascending; the sequencer
    extends the last one in its commit transaction. Published as ``day-index.json``.
    """

    day = models.DateField(_("day (UTC)"), unique=True)
    start = models.PositiveBigIntegerField(_("first index"))
    end = models.PositiveBigIntegerField(_("end index (exclusive)"))

    objects = LogDayQuerySet.as_manager()

    class Meta:
        verbose_name = _("log day")
        verbose_name_plural = _("log days")
        ordering = ["day"]

    def __str__(self) -> str:
        return f"{self.day}: [{self.start}, {self.end})"


class TallyCountQuerySet(models.QuerySet["TallyCount"]):
    def for_campaign(self, campaign: Campaign, dimension: str) -> dict[str, int]:
        """``{key: count}`` for one dimension (``total``, ``org``, ``day``, ``channel``)."""
        return dict(
            self.filter(campaign=campaign, dimension=dimension).values_list("key", "count")
        )

    def total(self, campaign: Campaign) -> int:
        return self.for_campaign(campaign, "total").get("", 0)


class TallyCount(models.Model):
    """Maintained aggregate of sequenced entries, updated in the sequencing transaction.

    ``dimension`` is one of ``total`` (key ``""``), ``org``, ``day`` (``YYYY-MM-DD``)
    or ``channel``: exactly what ``tallylog recount`` can recompute from the leaves. The
    public tally is read from here, never by counting rows.
    """

    campaign = models.ForeignKey(
        Campaign, verbose_name=_("campaign"), on_delete=models.CASCADE, related_name="tally_counts"
    )
    dimension = models.CharField(_("dimension"), max_length=16)
    key = models.CharField(_("key"), max_length=64, blank=True)
    count = models.PositiveBigIntegerField(_("count"), default=0)

    objects = TallyCountQuerySet.as_manager()

    class Meta:
        verbose_name = _("tally count")
        verbose_name_plural = _("tally counts")
        constraints = [
            models.UniqueConstraint(
                fields=["campaign", "dimension", "key"], name="tally_count_unique"
            ),
        ]

    def __str__(self) -> str:
        return f"{self.dimension} {self.key!r}: {self.count}"


class MilestoneQuerySet(models.QuerySet["Milestone"]):
    def for_campaign(self, campaign: Campaign) -> MilestoneQuerySet:
        return self.filter(campaign=campaign).order_by("threshold")


class Milestone(models.Model):
    """A threshold a campaign's tally crossed, with the checkpoint that proves it."""

    campaign = models.ForeignKey(
        Campaign, verbose_name=_("campaign"), on_delete=models.CASCADE, related_name="milestones_reached"
    )
    threshold = models.PositiveBigIntegerField(_("threshold"))
    reached_at = models.DateTimeField(_("reached at"))
    tree_size = models.PositiveBigIntegerField(_("tree size"))
    checkpoint = models.TextField(_("checkpoint"), blank=True)

    objects = MilestoneQuerySet.as_manager()

    class Meta:
        verbose_name = _("milestone")
        verbose_name_plural = _("milestones")
        ordering = ["campaign_id", "threshold"]
        constraints = [
            models.UniqueConstraint(fields=["campaign", "threshold"], name="milestone_unique"),
        ]

    def __str__(self) -> str:
        return f"milestone {self.threshold} at tree size {self.tree_size}"


class WitnessQuerySet(models.QuerySet["Witness"]):
    def behind(self, size: int) -> list[tuple[Witness, int]]:
        """Each witness, by name, with how many entries its last cosigned size is behind ``size``."""
        return [(w, max(0, size - w.cosigned_size)) for w in self.order_by("name")]


class Witness(models.Model):
    """A witness the sequencer asks to cosign each new checkpoint (C2SP tlog-witness).

    ``vkey`` is its cosignature/v1 verifier key (``name+hexid+base64(0x04 ‖ key)``), ``url``
    its submission prefix. ``cosigned_size`` is the size it last cosigned (the old size of
    the next request; from its 409 answer too), ``cosigned_at`` when it last cosigned, and
    ``last_error`` why the last attempt failed ("" after a success). Written by
    ``tallylog.registry.entries.cosigning``; configured with ``tallylog witness add/remove``.
    """

    name = models.CharField(_("name"), max_length=200, unique=True)
    vkey = models.CharField(_("verifier key"), max_length=400)
    url = models.URLField(_("URL"), max_length=400)
    added_at = models.DateTimeField(_("added at"), auto_now_add=True)
    cosigned_size = models.PositiveBigIntegerField(_("last cosigned size"), default=0)
    cosigned_at = models.DateTimeField(_("last cosigned at"), null=True, blank=True)
    last_attempt_at = models.DateTimeField(_("last attempt at"), null=True, blank=True)
    last_error = models.TextField(_("last error"), blank=True)

    objects = WitnessQuerySet.as_manager()

    class Meta:
        verbose_name = _("witness")
        verbose_name_plural = _("witnesses")
        ordering = ["name"]

    def __str__(self) -> str:
        return self.name
