"""The public tally of a campaign, read from maintained aggregates (never by counting rows)."""

from __future__ import annotations

import datetime
from dataclasses import dataclass, field

from django.utils import timezone

from tallylog.registry.campaigns.models import Campaign
from tallylog.registry.entries.models import LogEntry, LogState, Milestone, TallyCount


@dataclass(frozen=True)
class MilestoneReached:
    threshold: int
    reached_at: datetime.datetime
    tree_size: int
    checkpoint: str  # the signed checkpoint that proves it (empty until published)


@dataclass(frozen=True)
class Tally:
    """A campaign's counts of sequenced entries, as ``tallylog recount`` recomputes them
    from the leaves: ``by_org`` and ``by_channel`` map codes to counts, ``by_day`` lists
    ``(day, count)`` ascending (UTC day of sequencing), ``today`` and ``this_week`` (the
    last seven UTC days including today) are sums of ``by_day``."""

    total: int
    by_org: dict[str, int]
    by_channel: dict[str, int]
    by_day: list[tuple[datetime.date, int]]
    today: int
    this_week: int
    milestones: list[MilestoneReached] = field(default_factory=list)


def tally(campaign: Campaign, *, today: datetime.date | None = None) -> Tally:
    """The tally of ``campaign`` (two queries, whatever the number of entries)."""
    today = today or timezone.now().date()
    counts: dict[str, dict[str, int]] = {"total": {}, "org": {}, "day": {}, "channel": {}}
    for dimension, key, count in TallyCount.objects.filter(campaign=campaign).values_list(
        "dimension", "key", "count"
    ):
        counts.setdefault(dimension, {})[key] = count
    by_day = sorted((datetime.date.fromisoformat(k), n) for k, n in counts["day"].items())
    week_start = today - datetime.timedelta(days=6)
    milestones = [
        MilestoneReached(m.threshold, m.reached_at, m.tree_size, m.checkpoint)
        for m in Milestone.objects.for_campaign(campaign)
    ]
    return Tally(
        total=counts["total"].get("", 0),
        by_org=counts["org"],
        by_channel=counts["channel"],
        by_day=by_day,
        today=sum(n for d, n in by_day if d == today),
        this_week=sum(n for d, n in by_day if week_start <= d <= today),
        milestones=milestones,
    )


@dataclass(frozen=True)
class Lag:
    """How far the sequencer is behind: entries waiting, the age of the oldest, and when
    the sequencer last finished a pass (None if never)."""

    waiting: int
    oldest_waiting: datetime.timedelta | None
    last_pass_at: datetime.datetime | None
    log_size: int


def sequencing_lag(*, now: datetime.datetime | None = None) -> Lag:
    """The sequencing lag, for the transparency page."""
    now = now or timezone.now()
    waiting = LogEntry.objects.awaiting_sequence()
    oldest = waiting.values_list("published_at", flat=True).first()
    state = LogState.current()
    return Lag(
        waiting=waiting.count(),
        oldest_waiting=(now - oldest) if oldest else None,
        last_pass_at=state.last_pass_at,
        log_size=state.size,
    )
