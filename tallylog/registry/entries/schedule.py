"""The publication schedule: new entries enter the log in batches at fixed clock times.

With ``TALLYLOG_PUBLISH_INTERVAL`` = I seconds (docs/configuration.md), batches are
published at the multiples of I since midnight UTC (and at midnight itself), whatever was
submitted: the time of a batch depends on the clock alone, never on a submission, so an
observer who sees a batch appear learns only that its entries arrived in the interval
before it. Within a batch the sequencer orders entries at random (``shuffled``).
I = 0 publishes as soon as the sequencer runs (tests, demonstrations).

``last_boundary`` and ``next_boundary`` are the two ends of the interval holding a time.
"""

from __future__ import annotations

import datetime
import secrets
from collections.abc import Sequence
from typing import TypeVar

from django.utils import timezone

from tallylog.config import config

T = TypeVar("T")
DAY = datetime.timedelta(days=1)


def publish_interval() -> int:
    """Seconds between batches (0: no schedule)."""
    return config().publish_interval


def midnight(when: datetime.datetime | datetime.date) -> datetime.datetime:
    """The start (00:00 UTC) of ``when``'s UTC day: the only time kept for a sequenced entry."""
    if isinstance(when, datetime.datetime):
        when = when.astimezone(datetime.UTC).date()
    return datetime.datetime.combine(when, datetime.time(0), tzinfo=datetime.UTC)


def last_boundary(now: datetime.datetime, interval: int) -> datetime.datetime:
    """The latest batch time at or before ``now`` (``now`` itself when ``interval`` is 0);
    ``next_boundary``'s other end."""
    if interval <= 0:
        return now
    start = midnight(now)
    elapsed = int((now - start).total_seconds())
    return start + datetime.timedelta(seconds=elapsed - elapsed % interval)


def next_boundary(now: datetime.datetime, interval: int) -> datetime.datetime:
    """The first batch time after ``now`` (``now`` itself when ``interval`` is 0): the next
    multiple of ``interval`` seconds since midnight UTC, or the next midnight when that
    comes first; ``last_boundary``'s other end."""
    if interval <= 0:
        return now
    after = last_boundary(now, interval) + datetime.timedelta(seconds=interval)
    return min(after, midnight(now) + DAY)


def next_batch_at(now: datetime.datetime | None = None) -> datetime.datetime:
    """When the entries waiting now will be published, at the configured interval, rounded
    up to the minute (what the receipt page says: "at about HH:MM"); ``now`` when there
    is no schedule."""
    now = now or timezone.now()
    at = next_boundary(now, publish_interval())
    if at.second or at.microsecond:
        at = at.replace(second=0, microsecond=0) + datetime.timedelta(minutes=1)
    return at


def shuffled(items: Sequence[T]) -> list[T]:
    """``items`` in a random order drawn from the operating system's CSPRNG (``secrets``):
    the order of a batch in the log says nothing about the order of submission."""
    out = list(items)
    for i in range(len(out) - 1, 0, -1):  # Fisher–Yates
        j = secrets.randbelow(i + 1)
        out[i], out[j] = out[j], out[i]
    return out
