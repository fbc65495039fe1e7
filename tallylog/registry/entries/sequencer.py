"""The sequencer: appends published entries to the transparency log.

``run_pass`` is the commit protocol of ARCHITECTURE.md ("The sequencer's commit
protocol"), one pass, top to bottom, and its only implementation. Step 2 — which entries
the pass appends — is the caller's ``take``, returning a ``Batch`` (leaves, tally deltas,
and the entries' part of the step-4 transaction):

- ``sequence_pending`` takes the queue: published entries without a log index (those due
  in this batch, ``upto``), in a random order, and UPDATEs them with their index, day and
  leaf, their times and those of their declaration or signature cut to the day;
- the bulk importer (``tallylog.registry.imports.importer``, direct mode) takes its next
  prepared batch and INSERTs the declarations and their entries already sequenced, with
  the import's resume point, in that same transaction.

Every step says what a crash right after it leaves behind; in every case the next pass
(or ``recover`` at startup, which runs the same code) finishes the work, loses no entry
and never logs one twice, and the published checkpoint never goes backwards.

There is one writer: every pass runs under the sequencer lease
(``tallylog.registry.entries.lease``).
"""

from __future__ import annotations

import datetime
import logging
import threading
import time
from collections import Counter
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any

from django.db import close_old_connections, transaction
from django.utils import timezone

from tallylog import leaf
from tallylog.composition import LogServices
from tallylog.config import config
from tallylog.fastpath import update_rows, write_turn
from tallylog.registry.campaigns.models import Campaign
from tallylog.registry.entries import cosigning
from tallylog.registry.entries.lease import SequencerLease
from tallylog.registry.entries.models import (
    EMPTY_ROOT,
    LogDay,
    LogEntry,
    LogState,
    Milestone,
    TallyCount,
)
from tallylog.registry.entries.schedule import (
    last_boundary,
    midnight,
    publish_interval,
    shuffled,
)

log = logging.getLogger("tallylog.sequencer")

# While idle, the sequencer still records a heartbeat (LogState.last_pass_at) this often.
HEARTBEAT = 10.0


class SequencerError(RuntimeError):
    """A pass could not complete; nothing committed is lost and the next pass retries."""


def checkpoint_size(ls: LogServices, note: str | bytes | None) -> int | None:
    """The tree size of ``note`` if it is a signed checkpoint of this log (C2SP
    tlog-checkpoint in a signed note, opened strictly by ``tallylog.tlog.open_checkpoint``:
    signature, body, origin); None when it is absent, empty or does not open."""
    from tallylog.tlog import FormatError, VerificationError, open_checkpoint

    if not note:
        return None
    try:
        return open_checkpoint(note.encode() if isinstance(note, str) else note, ls.signer.verifier).size
    except (FormatError, VerificationError):
        return None


@dataclass
class Batch:
    """What a pass appends (step 2's result): the leaves, in log order, all of ``day``;
    ``tallies`` — per ``(campaign_id, dimension, key)`` for the ``total``, ``org`` and
    ``channel`` dimensions (the ``day`` one is added from ``day``); and ``write(start,
    now)``, the entries' part of step 4, run inside its transaction: it must give the
    entries log indexes ``start``, ``start + 1``, … and raise when it cannot."""

    day: datetime.date
    leaves: list[bytes]
    tallies: Counter[tuple[int, str, str]]
    write: Callable[[int, datetime.datetime], None]


def tally_deltas(entries: Iterable[tuple[int, str, Iterable[str]]]) -> Counter[tuple[int, str, str]]:
    """``Batch.tallies`` of entries given as ``(campaign_id, channel, orgs)``."""
    deltas: Counter[tuple[int, str, str]] = Counter()
    for campaign_id, channel, orgs in entries:
        deltas[(campaign_id, "total", "")] += 1
        deltas[(campaign_id, "channel", channel)] += 1
        for org in orgs:
            deltas[(campaign_id, "org", org)] += 1
    return deltas


def sequence_pending(
    log_services: LogServices, *, batch_size: int, day: datetime.date | None = None, upto: int | None = None
) -> int:
    """Run one pass of the commit protocol over the queue; return how many entries it sequenced.

    ``day`` (default: today, UTC) is the leaf ``day``; it never goes below the last
    sequenced day, so each day's entries form one contiguous index range (``LogDay``).
    ``upto``: only entries with an id up to it (those due in the current batch of the
    publication schedule, ``SequencerThread``); None: every waiting entry.
    Raises ``tallylog.tlog.LogInconsistentError`` when the stored log disagrees with the
    database (the sequencer must stop), ``SequencerError`` for a failed pass.
    """
    if batch_size < 1:
        raise ValueError("batch_size must be at least 1")
    return run_pass(log_services, lambda: _take_queued(batch_size, day, upto))


def run_pass(log_services: LogServices, take: Callable[[], Batch | None], *, day_index: bool = True) -> int:
    """One pass of the commit protocol, under the sequencer lease, with ``take`` as step 2
    (called after step 1; None or no leaves: nothing to do). The queue's passes
    (``sequence_pending``) and the bulk importer's direct sequencing both run here.
    ``day_index``: write the public day index (step 6) after the pass."""
    with SequencerLease(log_services.home):
        try:
            return _pass(log_services, take, day_index)
        except BaseException:
            # The appender may hold staged state the database never committed: reopen
            # it from the store next time.
            log_services.forget_appender()
            raise


def _pass(ls: LogServices, take: Callable[[], Batch | None], day_index: bool) -> int:
    # Step 1: read the committed state (size, root) from the database, and open the
    # appender there (it checks the stored edge tiles against it, and refuses when they
    # disagree with history). A crash here leaves nothing behind.
    state = LogState.current()
    appender = ls.appender(state.size, bytes(state.root))
    if checkpoint_size(ls, state.checkpoint) != state.size:
        # A previous pass committed (step 4) but crashed before publishing (step 5).
        _publish(ls, appender, state.size)

    # Step 2: take the next batch (the queue: published, unsequenced entries due now, in
    # a random order; the importer: its next prepared batch), with its leaves. A crash
    # here leaves nothing behind: the entries stay waiting, for the next batch.
    batch = take()
    if batch is None or not batch.leaves:
        _heartbeat(state)
        return 0

    # Step 3: write the entry bundles and hash tiles for the new size (full tiles
    # atomically, immutable). A crash here leaves tiles beyond the committed size that no
    # checkpoint covers; the next pass stages over them from the committed state.
    try:
        head = appender.stage(batch.leaves)
    except Exception as exc:
        raise SequencerError(f"couldn't write tiles: {exc}") from exc
    if head.size != state.size + len(batch.leaves):
        raise AssertionError("run_pass: appender staged an unexpected size")

    # Step 4: ONE transaction writes the entries with their indexes and days (and, for
    # the queue, cuts their times and their declarations' or signatures' to the day),
    # stores the new size and root, and updates the tally and milestones. A crash before it commits
    # leaves step 3's state; after it, the database is ahead of the published
    # checkpoint, and the next pass (step 1) publishes it.
    now = timezone.now()
    _commit(state, batch, head, now)

    # Step 5: sign and publish the checkpoint (atomic replace), then record it. A crash
    # before the replace: as after step 4. After it: the checkpoint is out but not
    # recorded in the database; the next pass records that same checkpoint (never a
    # second one of the same size, never a smaller one).
    _publish(ls, appender, head.size)

    # Step 6 (best effort): the public day index. A failure is logged, never fatal; the
    # next pass writes it again.
    if day_index:
        write_day_index(ls)
    return len(batch.leaves)


def leaf_day(day: datetime.date | None = None) -> datetime.date:
    """The leaf day of a pass: ``day`` or today (UTC), never before the last logged day
    (``ValueError`` when an explicit ``day`` is)."""
    last = LogDay.objects.order_by("-day").values_list("day", flat=True).first()
    chosen = day or timezone.now().astimezone(datetime.UTC).date()
    if last is not None and chosen < last:
        if day is not None:
            raise ValueError(f"day {day} is before the last sequenced day {last}")
        chosen = last  # the clock went backwards: keep the day ranges contiguous
    return chosen


def _take_queued(batch_size: int, day: datetime.date | None, upto: int | None = None) -> Batch | None:
    """Step 2 of a queue pass: the next ``batch_size`` waiting entries (with ``upto``: of
    those with an id up to it), shuffled (``schedule.shuffled``: the log's order within a
    batch is random, not the order of submission)."""
    waiting = LogEntry.objects.awaiting_sequence()
    if upto is not None:
        waiting = waiting.filter(id__lte=upto)
    rows: list[tuple[int, int, Any]] = shuffled(list(waiting.values_list("id", "campaign_id", "body")[:batch_size]))
    if not rows:
        return None
    chosen = leaf_day(day)
    leaves = [leaf.encode_leaf(day=chosen.isoformat(), **body) for _, _, body in rows]
    deltas = tally_deltas((cid, body["channel"], body.get("orgs", ())) for _, cid, body in rows)

    def write(start: int, now: datetime.datetime) -> None:
        update_rows(
            LogEntry,
            ("log_index", "leaf"),
            [(start + i, data, entry_id) for i, ((entry_id, _, _), data) in enumerate(zip(rows, leaves, strict=True))],
            key="id",
            where_null="log_index",
            day=chosen,
            # Nothing finer than the day is kept for a logged entry (SECURITY.md).
            published_at=midnight(chosen),
            sequenced_at=midnight(chosen),
        )
        updated = LogEntry.objects.filter(log_index__gte=start, log_index__lt=start + len(rows)).count()
        if updated != len(rows):
            raise SequencerError("couldn't commit: an entry of the batch was sequenced already")
        blur_times([entry_id for entry_id, _, _ in rows], chosen)

    return Batch(chosen, leaves, deltas, write)


def blur_times(entry_ids: list[int], day: datetime.date) -> None:
    """Set every time column of the entries' declarations or signatures listed in their
    model's ``DAY_ONLY_FIELDS`` to ``day``'s midnight UTC (inside step 4's transaction).
    The models are found through ``LogEntry``'s one-to-one reverse relations, so that the
    log's app imports none of the apps that log through it."""
    for relation in LogEntry._meta.related_objects:
        fields = getattr(relation.related_model, "DAY_ONLY_FIELDS", ())
        if relation.one_to_one and fields:
            relation.related_model._default_manager.filter(entry_id__in=entry_ids).update(
                **dict.fromkeys(fields, midnight(day))
            )


def _commit(state: LogState, batch: Batch, head: Any, now: datetime.datetime) -> list[int]:
    """Step 4 of the protocol; returns the ids of the milestones reached."""
    start = state.size
    with write_turn(), transaction.atomic():
        locked = LogState.objects.select_for_update().filter(pk=1).first()
        if (locked.size if locked else 0) != start:
            raise SequencerError("couldn't commit: the log state changed under the sequencer (two writers?)")
        batch.write(start, now)
        LogState.objects.update_or_create(
            pk=1, defaults={"size": head.size, "root": head.root, "last_pass_at": now}
        )
        LogDay.objects.get_or_create(day=batch.day, defaults={"start": start, "end": start})
        LogDay.objects.filter(day=batch.day).update(end=head.size)
        before = _add_tallies(batch.tallies, batch.day)
        return _milestones(before, head.size, now)


def _add_tallies(tallies: Counter[tuple[int, str, str]], day: datetime.date) -> dict[int, int]:
    """Add a batch's ``tallies`` (and ``day``: one per entry) to TallyCount — exactly what
    ``tallylog recount`` recomputes from the leaves: per campaign, ``total``, ``org``,
    ``day`` and ``channel``. Returns each touched campaign's total before the batch."""
    deltas = Counter(tallies)
    for (campaign_id, dimension, _), n in tallies.items():
        if dimension == "total":
            deltas[(campaign_id, "day", day.isoformat())] += n
    campaign_ids = {k[0] for k in deltas}
    existing = {
        (t.campaign_id, t.dimension, t.key): t
        for t in TallyCount.objects.filter(
            campaign_id__in=campaign_ids,
            dimension__in={k[1] for k in deltas},
            key__in={k[2] for k in deltas},
        )
    }
    before = {cid: existing[(cid, "total", "")].count if (cid, "total", "") in existing else 0 for cid in campaign_ids}
    changed, created = [], []
    for key, n in deltas.items():
        if key in existing:
            existing[key].count += n
            changed.append(existing[key])
        else:
            created.append(TallyCount(campaign_id=key[0], dimension=key[1], key=key[2], count=n))
    TallyCount.objects.bulk_update(changed, ["count"])
    TallyCount.objects.bulk_create(created)
    return before


def _milestones(before: dict[int, int], tree_size: int, now: datetime.datetime) -> list[int]:
    """Record each milestone threshold the batch crossed; returns their ids."""
    ids = []
    campaigns = Campaign.objects.in_bulk(list(before))
    totals = TallyCount.objects.filter(campaign_id__in=list(before), dimension="total", key="")
    for campaign_id, after in totals.values_list("campaign_id", "count"):
        for threshold in campaigns[campaign_id].thresholds_crossed(before[campaign_id], after):
            m, _ = Milestone.objects.get_or_create(
                campaign_id=campaign_id,
                threshold=threshold,
                defaults={"reached_at": now, "tree_size": tree_size},
            )
            ids.append(m.pk)
    return ids


def _publish(ls: LogServices, appender: Any, size: int) -> None:
    """Step 5: sign and publish the checkpoint of ``size``; record it in the database.

    When the store already holds the checkpoint of ``size`` (a crash between publishing
    and recording it), that one is recorded: a log never signs two heads of one size.
    """
    if appender.size != size:
        raise AssertionError("_publish: appender is not at the committed size")
    existing = ls.checkpoint()
    if existing is not None and checkpoint_size(ls, existing) == size:
        note = existing
    else:
        try:
            with cosigning.publishing():
                note = appender.publish()
        except Exception as exc:
            raise SequencerError(f"couldn't publish the checkpoint: {exc}") from exc
    text = note.decode("utf-8") if isinstance(note, bytes) else str(note)
    with write_turn(), transaction.atomic():
        LogState.objects.update_or_create(
            pk=1,
            defaults={"checkpoint": text},
            create_defaults={"size": 0, "root": EMPTY_ROOT, "checkpoint": text},
        )
        Milestone.objects.filter(checkpoint="", tree_size__lte=size).update(checkpoint=text)
    cosigning.after_publish(ls)  # the witnesses are asked in another thread, never here


def _heartbeat(state: LogState) -> None:
    now = timezone.now()
    if state.pk and (state.last_pass_at is None or (now - state.last_pass_at).total_seconds() >= HEARTBEAT):
        with write_turn():
            LogState.objects.filter(pk=1).update(last_pass_at=now)


def write_day_index(ls: LogServices) -> bool:
    """Publish ``day-index.json`` through the log's store (atomic and durable, the
    ``TileStore`` contract); best effort: a failure is logged, the next pass writes it again.

    ``tallylog.tlog.dayindex`` is the format: ``{"days": [{"day": "YYYY-MM-DD", "start": n,
    "end": m}, …]}``, ``end`` exclusive; ``tallylog check-receipt --day`` downloads only that
    day's entry bundles.
    """
    from tallylog.tlog.dayindex import DAY_INDEX_PATH, DayRange, format_day_index

    try:
        days = [DayRange(**day) for day in LogDay.objects.index()]  # type: ignore[arg-type]  # the index is day/start/end
        ls.store.write(DAY_INDEX_PATH, format_day_index(days))
        return True
    except Exception:
        log.exception("couldn't write the day index")
        return False


def recover(log_services: LogServices, *, wait: bool = True) -> None:
    """Startup recovery: check the stored log against the committed state and finish an
    interrupted pass, or refuse.

    - Tiles beyond the committed size (a crash after step 3): ignored, the next pass
      stages over them.
    - Checkpoint behind the committed state (a crash after step 4): published now (step 5).
    - Tiles behind the committed state (the log directory restored from an old backup):
      steps 3–5 are redone from the leaves in the database, on top of the published
      checkpoint, and the result must reproduce the committed root.
    - Anything else that disagrees: ``LogInconsistentError``, and nothing is changed.

    Takes the sequencer lease (``wait=False``: ``LeaseBusy`` if another process has it).
    """
    from tallylog.tlog import LogInconsistentError

    with SequencerLease(log_services.home, wait=wait):
        log_services.forget_appender()
        state = LogState.current()
        try:
            appender = log_services.appender(state.size, bytes(state.root))
        except LogInconsistentError as exc:
            appender = _restage_from_database(log_services, state, exc)
        published = log_services.checkpoint()
        if (
            published is None
            or checkpoint_size(log_services, published) != state.size
            or checkpoint_size(log_services, state.checkpoint) != state.size
        ):
            _publish(log_services, appender, state.size)
        else:
            cosigning.after_publish(log_services)  # a checkpoint published before a restart
        write_day_index(log_services)


def _restage_from_database(ls: LogServices, state: LogState, cause: Exception) -> Any:
    """Redo steps 3 (and then 5) for the entries between the published checkpoint and the
    committed size; raise ``cause`` when the stored log is not a prefix of the committed one."""
    from tallylog.tlog import Appender

    try:
        appender = Appender.open(ls.store, ls.signer, ls.origin)
    except Exception:
        raise cause from None
    if appender.size >= state.size:
        raise cause
    log.warning("the stored log is behind the database (%d < %d): restaging", appender.size, state.size)
    start = appender.size
    chunk = settings_batch_size()
    while start < state.size:
        end = min(start + chunk, state.size)
        leaves = [
            bytes(data)
            for data in LogEntry.objects.filter(log_index__gte=start, log_index__lt=end)
            .order_by("log_index")
            .values_list("leaf", flat=True)
            if data is not None  # a missing leaf is caught by the count below
        ]
        if len(leaves) != end - start:
            raise AssertionError("_restage_from_database: a sequenced entry lacks its leaf")
        appender.stage(leaves)
        start = end
    if appender.root != state.root:
        raise cause
    return appender


def settings_batch_size() -> int:
    return config().sequencer_batch


def settings_interval() -> float:
    return config().sequencer_interval


class SequencerThread(threading.Thread):
    """Runs ``sequence_pending`` every ``interval`` seconds until ``stop()``.

    With a publication schedule (``TALLYLOG_PUBLISH_INTERVAL``, ``schedule``), a pass
    sequences only the entries that were waiting when the last batch time went by (ids up
    to the largest then); entries that arrive later wait for the next batch time. After a
    restart, every waiting entry waits for the next batch time: a crash loses none.

    Holds the sequencer lease for its whole life (waiting for it first: a standby), runs
    ``recover`` at start, and keeps going after a failed pass (logged, retried). A
    ``LogInconsistentError`` stops it for good: ``error`` holds it.
    """

    def __init__(
        self,
        log_services: LogServices,
        *,
        batch_size: int | None = None,
        interval: float | None = None,
    ) -> None:
        super().__init__(name="tallylog-sequencer", daemon=True)
        self.log_services = log_services
        self.batch_size = batch_size or settings_batch_size()
        self.interval = interval if interval is not None else settings_interval()
        self._stop_event = threading.Event()
        self.error: BaseException | None = None
        self.sequenced = 0
        self.last_pass_at: float | None = None
        self.ready = threading.Event()
        self.publish_interval = publish_interval()
        self._boundary = last_boundary(timezone.now(), self.publish_interval)
        self._due: int | None = 0 if self.publish_interval else None  # ids up to it are due

    def _due_upto(self) -> int | None:
        """The largest id due in this batch (None: all; no schedule), moved on to the
        entries waiting at a batch time once that time has gone by."""
        if self.publish_interval:
            boundary = last_boundary(timezone.now(), self.publish_interval)
            if boundary > self._boundary:
                self._boundary = boundary
                newest = LogEntry.objects.awaiting_sequence().order_by("-id").values_list("id", flat=True).first()
                self._due = max(self._due or 0, newest or 0)
        return self._due

    def stop(self) -> None:
        self._stop_event.set()

    def run(self) -> None:
        from tallylog.tlog import LogInconsistentError

        try:
            with SequencerLease(self.log_services.home):
                recover(self.log_services)
                self.ready.set()
                while not self._stop_event.is_set():
                    try:
                        n = sequence_pending(self.log_services, batch_size=self.batch_size, upto=self._due_upto())
                        self.sequenced += n
                        self.last_pass_at = time.monotonic()
                        if n:
                            log.info("sequenced %d entries", n)
                            if n == self.batch_size:
                                continue  # more are waiting: no pause
                    except LogInconsistentError:
                        raise
                    except Exception:
                        log.exception("sequencer pass failed; retrying")
                    finally:
                        close_old_connections()
                    self._stop_event.wait(self.interval)
        except BaseException as exc:
            self.error = exc
            log.exception("sequencer stopped")
        finally:
            self.ready.set()
            from django.db import connections

            connections.close_all()
