"""The site's health at one moment, read from the database and the shared cache.

``read_health`` gathers every reading with a few aggregate queries: entries logged and
waiting by channel, declarations held for review or rejected, the sequencer's lag and last
pass, the checkpoint's size and age, each witness's lag, the newsletter's delivery queue
and the rate-limit refusals. None reads a row of personal data, and there is no address
anywhere to read. ``problems`` names what is wrong, one sentence each. ``/metrics``
(``tallylog.ops.metrics``) and ``tallylog status`` both print these same readings, so the
two never disagree.

No reading says more about when people declared than the published log does. With a
publication schedule (``TALLYLOG_PUBLISH_INTERVAL`` > 0) the log shows only the batch an
entry went into, and the database keeps nothing finer than the day once it is logged
(SECURITY.md, "Times blurred"); a scraper that kept a count moving with each arrival, every
15 seconds for months, would undo that. So the readings that move with arrivals — entries
waiting, declarations held for review or rejected, and the totals made of them — count
only what arrived before the last batch time (``cutoff``): they move at batch times, as
the log does. The sequencer's lag is measured from the batch time the oldest of those was
due at, and the oldest one's own age is not reported (it is, without a schedule, where
the transparency page shows it too).

Counts come from what the site already maintains where a table can be large: the log's
entries from the tally (``TallyCount``, updated by the sequencer), so a scrape never counts
hundreds of millions of rows; the queue, the review queue and the rejected declarations
by their indexes (``entry_awaiting_idx``, ``declaration_status_idx``).

Unhealthy (``problems``):

- the sequencer lag — how long the oldest waiting entry is past the batch time it was due
  at (``registry.entries.schedule``) — is beyond ``lag_limit``: twice the publication
  interval, at least ``LAG_FLOOR`` seconds;
- the sequencer has not finished a pass for ``PASS_LIMIT`` seconds (it records one at
  least every ``sequencer.HEARTBEAT`` seconds while it runs);
- the published checkpoint does not cover the committed log (a pass committed and did not
  publish), or there is none while the log has entries;
- with witnesses configured, fewer than the quorum cosigned the current checkpoint
  ``WITNESS_GRACE`` seconds after it was published.
"""

from __future__ import annotations

import datetime
from collections import Counter
from dataclasses import dataclass, field

from django.db.models import Count, Sum
from django.utils import timezone

from tallylog.composition import get_log
from tallylog.config import config
from tallylog.registry.campaigns.models import Campaign
from tallylog.registry.declarations.models import Declaration
from tallylog.registry.entries.models import LogEntry, LogState, TallyCount, Witness
from tallylog.registry.entries.schedule import last_boundary, next_boundary
from tallylog.registry.entries.sequencer import checkpoint_size
from tallylog.registry.subscribers.models import Delivery
from tallylog.safety.ratelimit import refusals

LAG_FLOOR = 60.0  # seconds: the lag limit without a publication schedule (interval 0)
PASS_LIMIT = 120.0  # seconds without a finished sequencer pass
WITNESS_GRACE = 300.0  # seconds a checkpoint may wait for its quorum of cosignatures

# The kind of log entry each kind of campaign holds (tallylog.leaf ``kind``).
ENTRY_KIND = {Campaign.Kind.DECLARATION: "declaration", Campaign.Kind.PETITION: "signature"}
# Newsletter deliveries not (or not surely) done: the mail queue.
MAIL_QUEUE_STATES = (
    Delivery.State.PENDING,
    Delivery.State.SENDING,
    Delivery.State.UNCERTAIN,
    Delivery.State.FAILED,
)


@dataclass(frozen=True)
class WitnessHealth:
    """One configured witness: the size it last cosigned, how many entries that is behind
    the log, how long ago (None: never), and whether its last attempt failed."""

    name: str
    cosigned_size: int
    behind: int
    cosigned_age: float | None
    failing: bool


@dataclass(frozen=True)
class Health:
    """The readings ``read_health`` took (ages in seconds; None: never happened)."""

    log_size: int
    checkpoint_size: int | None
    checkpoint_age: float | None
    publish_interval: int
    logged: dict[tuple[str, str], int]  # (entry kind, channel) -> entries in the log
    # Of what arrived before the last batch time (all, without a schedule; module docstring):
    waiting: dict[tuple[str, str], int]  # (entry kind, channel) -> published, waiting for their batch
    held: dict[str, int]  # channel -> declarations held for review
    rejected: dict[str, int]  # channel -> declarations rejected
    oldest_waiting_age: float | None  # None with a schedule, or when none waits
    sequencer_lag: float
    last_pass_age: float | None
    witness_quorum: int
    witnesses: list[WitnessHealth] = field(default_factory=list)
    mail: dict[str, int] = field(default_factory=dict)  # delivery state -> newsletter deliveries
    refusals: dict[str, int] = field(default_factory=dict)  # limit scope -> requests refused

    @property
    def lag_limit(self) -> float:
        """The sequencer lag beyond which the site is unhealthy."""
        return max(2.0 * self.publish_interval, LAG_FLOOR)

    def declarations_published(self) -> dict[str, int]:
        """Per channel: declarations published, logged or waiting for their batch."""
        total: Counter[str] = Counter()
        for source in (self.logged, self.waiting):
            for (kind, channel), n in source.items():
                if kind == "declaration":
                    total[channel] += n
        return dict(sorted(total.items()))

    def declarations_received(self) -> dict[str, int]:
        """Per channel: every declaration received, published, held for review or rejected."""
        total = Counter(self.declarations_published())
        total.update(self.held)
        total.update(self.rejected)
        return dict(sorted(total.items()))

    @property
    def waiting_total(self) -> int:
        return sum(self.waiting.values())

    @property
    def held_total(self) -> int:
        return sum(self.held.values())


def _age(now: datetime.datetime, then: datetime.datetime | None) -> float | None:
    return None if then is None else max(0.0, (now - then).total_seconds())


def read_health(now: datetime.datetime | None = None) -> Health:
    """The readings, now (``now``: for tests)."""
    now = now or timezone.now()
    interval = config().publish_interval
    state = LogState.current()
    # What arrived before the last batch time (module docstring); without a schedule, all.
    cutoff = last_boundary(now, interval) if interval else None
    due = LogEntry.objects.awaiting_sequence()
    if cutoff is not None:
        due = due.filter(published_at__lt=cutoff)
    oldest = due.values_list("published_at", flat=True).first()
    # Due at the first batch time after it arrived; late by how long now is past that.
    sequencer_lag = 0.0 if oldest is None else max(0.0, (now - next_boundary(oldest, interval)).total_seconds())

    logged: Counter[tuple[str, str]] = Counter()
    rows = TallyCount.objects.filter(dimension="channel").values_list("campaign__kind", "key").annotate(n=Sum("count"))
    for campaign_kind, channel, n in rows:
        logged[(ENTRY_KIND.get(campaign_kind, campaign_kind), channel)] += n
    waiting = {
        (kind, channel): n
        for kind, channel, n in due.order_by().values_list("kind", "channel").annotate(n=Count("id"))
    }

    def by_channel(status: str) -> dict[str, int]:
        found = Declaration.objects.filter(status=status)
        if cutoff is not None:
            found = found.filter(created_at__lt=cutoff)
        return dict(found.order_by().values_list("channel").annotate(n=Count("id")).values_list("channel", "n"))

    checkpoint = state.checkpoint
    witnesses = [
        WitnessHealth(
            name=w.name,
            cosigned_size=w.cosigned_size,
            behind=behind,
            cosigned_age=_age(now, w.cosigned_at),
            failing=bool(w.last_error),
        )
        for w, behind in Witness.objects.behind(state.size)
    ]
    mail = dict(
        Delivery.objects.filter(state__in=MAIL_QUEUE_STATES)
        .order_by()
        .values_list("state")
        .annotate(n=Count("id"))
        .values_list("state", "n")
    )
    return Health(
        log_size=state.size,
        checkpoint_size=checkpoint_size(get_log(), checkpoint) if checkpoint else None,
        checkpoint_age=_age(now, state.updated_at) if checkpoint else None,
        publish_interval=interval,
        logged=dict(sorted(logged.items())),
        waiting=dict(sorted(waiting.items())),
        held=by_channel(Declaration.Status.PENDING),
        rejected=by_channel(Declaration.Status.REJECTED),
        oldest_waiting_age=None if cutoff is not None else _age(now, oldest),
        sequencer_lag=sequencer_lag,
        last_pass_age=_age(now, state.last_pass_at),
        witness_quorum=config().witness_quorum,
        witnesses=witnesses,
        mail={str(s): mail.get(s, 0) for s in MAIL_QUEUE_STATES},
        refusals=refusals(),
    )


def problems(health: Health) -> list[str]:
    """What is wrong (the module's list), one sentence each; empty when healthy."""
    found = []
    if health.sequencer_lag > health.lag_limit:
        found.append(
            f"sequencer lag {health.sequencer_lag:.0f} s: the oldest waiting entry is past its batch time by more "
            f"than {health.lag_limit:.0f} s (twice the publication interval of {health.publish_interval} s, "
            f"at least {LAG_FLOOR:.0f} s); is the sequencer running?"
        )
    # None: no pass ever logged an entry (on an empty log the heartbeat has no row to
    # write to); entries waiting past their time are the lag's, above.
    if health.last_pass_age is not None and health.last_pass_age > PASS_LIMIT:
        found.append(
            f"the sequencer's last pass was {health.last_pass_age:.0f} s ago (it records one at least every 10 s "
            f"while it runs; limit {PASS_LIMIT:.0f} s): is it running?"
        )
    if health.checkpoint_size is None and health.log_size:
        found.append(f"no signed checkpoint of this log is recorded, though it holds {health.log_size} entries")
    elif health.checkpoint_size is not None and health.checkpoint_size != health.log_size:
        found.append(
            f"the published checkpoint (size {health.checkpoint_size}) does not cover the committed log "
            f"(size {health.log_size}): the sequencer has not published its last pass"
        )
    if health.witnesses and health.checkpoint_size:
        cosigned = sum(1 for w in health.witnesses if w.behind == 0)
        age = health.checkpoint_age or 0.0
        if cosigned < health.witness_quorum and age > WITNESS_GRACE:
            behind = ", ".join(f"{w.name} ({w.behind} behind)" for w in health.witnesses if w.behind)
            found.append(
                f"{cosigned} of the quorum of {health.witness_quorum} witnesses cosigned the checkpoint of size "
                f"{health.log_size}, published {age:.0f} s ago (limit {WITNESS_GRACE:.0f} s): {behind}"
            )
    return found
