"""The streaming bulk importer: a JSON Lines or CSV file of declarations into a campaign.

``import_file`` reads the file once to hash it (its identity for resuming), then streams
its records (``formats.read_rows``) in batches. Each row is normalised and validated by the
registry's own rules and prepared — salt, commitment, tag, and in direct mode its leaf —
without the database, in ``jobs`` worker processes (0: in the main process; at most
``2 * jobs`` batches in flight: memory is bounded by the batch size, not the file). The main process
then writes each batch in ONE transaction, in one of two modes:

- **Direct** (``log`` given and the sequencer lease free: no sequencer runs — the normal case
  for a historical import before going live): each batch is one pass of the sequencer's
  commit protocol (``entries.sequencer.run_pass``; ARCHITECTURE.md "The sequencer's
  commit protocol"), with the batch as step 2: tiles are staged (step 3), then ONE
  transaction inserts the declarations and their log entries already carrying
  ``log_index``/``day``/``leaf``/``sequenced_at``, advances the log state, day range,
  tally, milestones and the run's resume point (step 4), then the checkpoint is published
  (step 5). Nothing is written twice. The import holds the sequencer lease throughout; it
  recovers the log and sequences whatever was already waiting in the queue before its
  first batch, and again after its last (entries published meanwhile by the web).
- **Queued** (no ``log``, or a sequencer holds the lease): declarations are published and
  their entries queued (``log_index`` NULL); the running sequencer logs them.

Crash safety: a crash loses at most the batch in flight, which was not committed; running
the same import again skips every committed line (``ImportRun.lines_done``, committed with
the batch) and imports the rest, so each row is imported — and logged — exactly once. In
direct mode a crash between the steps leaves what a crashed sequencer pass leaves, and the
next pass (the resumed import's first, or ``recover``) finishes it the same way. The report
and receipts files are written and flushed to disk *before* the batch commits: after a
crash they may list the lines of the lost batch twice (the later entry is the one that
counts), never miss one.

Receipt codes: an imported declaration gets no receipt code by default — nobody could be
given thousands of them — but a random ``tag`` that no code hashes to, and a
``receipt_hash`` no code matches: 24 zero bytes and the entry's id (an HMAC-SHA256 output
with 192 leading zero bits is out of reach), unique like every receipt hash and ascending,
so the unique index on it grows at its right edge instead of at random pages. With
``receipts_path`` each row gets a real code, written with its line number to that file
(mode 0600) for the operator to pass on; only its keyed hash is stored, as for any
declaration.

Rows are written by the fast paths (``tallylog.fastpath.TableWriter``) in the shapes of
``declarations.rows``, shared with the group committer: one shape per table, the same for
queued and direct mode. Stored per direct-sequenced entry: the leaf (which carries every
leaf field) and an empty ``body`` — ``body`` is only the queue's input to the sequencer.
"""

from __future__ import annotations

import collections
import contextlib
import csv
import datetime
import functools
import json
import os
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Any, cast

from django.db import connection, transaction
from django.db.models import F
from django.utils import timezone

from tallylog import leaf
from tallylog.composition import LogServices
from tallylog.fastpath import reserve_ids, write_turn
from tallylog.registry.campaigns.models import Campaign
from tallylog.registry.declarations import rows as table_rows
from tallylog.registry.declarations.actions import entry_body, new_declaration
from tallylog.registry.declarations.models import Channel, Declaration
from tallylog.registry.declarations.rows import ImportedDeclaration
from tallylog.registry.entries import sequencer
from tallylog.registry.entries.lease import LeaseBusy, SequencerLease
from tallylog.registry.entries.models import LogEntry
from tallylog.registry.imports.formats import (
    MAX_LINE_BYTES,
    Row,
    _jsonl_row,
    read_rows,
    summarise,
)
from tallylog.registry.imports.models import ImportRun
from tallylog.registry.imports.validation import CampaignRules, RowInvalid

DEFAULT_BATCH = 10_000
# The SQLite page cache of the importing connection (KiB): the tables' and indexes' right
# edges stay in memory, whatever the database's size.
SQLITE_CACHE_KIB = 64 * 1024
# The queue is drained in passes of this many entries before and after a direct import.
DRAIN_BATCH = 100_000
# ``receipt_hash`` of an imported declaration without a receipt code: this, then the
# entry id as 8 bytes big-endian (see the module docstring).
NO_RECEIPT_PREFIX = bytes(24)


class ImportConflict(RuntimeError):
    """Another import of the same file into the same campaign is running."""


@dataclass(frozen=True)
class ImportResult:
    """What one call of ``import_file`` did. ``skipped_lines`` were committed by an
    earlier run; ``already_done`` means the file had been imported completely before.
    ``direct``: the rows were sequenced into the log as they were imported;
    ``sequenced``: entries this call logged (the import's own and any that waited)."""

    run: ImportRun
    imported: int
    rejected: int
    skipped_lines: int
    already_done: bool
    direct: bool = False
    sequenced: int = 0


def import_file(
    campaign: Campaign,
    path: Path,
    *,
    fmt: str,
    report_path: Path,
    receipts_path: Path | None = None,
    batch_size: int = DEFAULT_BATCH,
    jobs: int = 0,
    progress: Callable[[int, int], None] | None = None,
    log: LogServices | None = None,
    day: datetime.date | None = None,
) -> ImportResult:
    """Import the declarations in ``path`` (``fmt`` ``jsonl`` or ``csv``) into ``campaign``.

    Bad rows go to ``report_path`` (CSV: ``line,field,reason``) and the good ones are
    imported. With ``jobs`` ≥ 1, that many worker processes parse, validate and prepare
    the batches (no database access) while this one writes them, in file order; with 0
    this process does it all. With ``log``,
    the rows are sequenced into it directly when the sequencer lease is free (see the module
    docstring), with leaf day ``day`` (default: today, UTC; as ``sequence_pending``);
    otherwise queued. ``progress(advanced, total)`` is called with the number of lines
    each committed batch advanced and the file's number of lines. Raises
    ``formats.ImportFileError`` when the file as a whole is unusable,
    ``validation.CampaignClosed`` when the campaign takes no declarations,
    ``ImportConflict`` when the same import runs elsewhere at the same time,
    ``tallylog.tlog.LogInconsistentError`` when the log disagrees with the database.
    """
    if batch_size < 1 or jobs < 0:
        raise ValueError("batch_size must be at least 1 and jobs at least 0")
    rules = CampaignRules.of(campaign)
    summary = summarise(path)
    run, _ = ImportRun.objects.get_or_create(
        campaign=campaign,
        file_sha256=summary.sha256,
        defaults={"file_name": path.name[:255], "format": fmt, "lines_total": summary.lines},
    )
    skipped = run.lines_done
    if run.finished_at is not None:
        return ImportResult(run, 0, 0, skipped, already_done=True)
    if progress:
        progress(skipped, summary.lines)

    imported = rejected = sequenced = 0
    with contextlib.ExitStack() as stack:
        direct = log is not None and _take_lease(stack, log)
        if direct:
            assert log is not None
            sequencer.recover(log)
            sequenced += _drain(log, day)
        stack.enter_context(_sqlite_cache())
        report = stack.enter_context(_Report(report_path, resume=skipped > 0))
        receipts = stack.enter_context(_Receipts(receipts_path))
        batches = _raw_jsonl(path, skipped, batch_size) if fmt == "jsonl" else _batches(
            read_rows(path, fmt, after_line=skipped), batch_size
        )
        tasks = (_Task(rules, receipts.enabled, _guess_day(day) if direct else None, b) for b in batches)
        for prepared in _prepare_all(tasks, jobs):
            for problem in prepared.problems:
                report.add(*problem)
            report.flush()
            receipts.write(prepared.codes)
            lines_before = run.lines_done
            if direct and prepared.declarations:
                assert log is not None
                sequenced += sequencer.run_pass(log, functools.partial(_direct_batch, run, campaign, prepared, day), day_index=False)
            else:
                # Beside a running server: its submissions queue behind the batch on the
                # write turn rather than sleeping in SQLite's busy handler.
                with write_turn(), transaction.atomic():
                    _write(run, campaign, prepared, None, None)
            run.lines_done = prepared.last_line  # committed
            imported += len(prepared.declarations)
            rejected += prepared.rejected
            if progress:
                progress(run.lines_done - lines_before, summary.lines)
        with transaction.atomic():
            ImportRun.objects.filter(pk=run.pk).update(
                finished_at=timezone.now(), lines_done=max(run.lines_done, summary.lines)
            )
        if direct:
            assert log is not None
            sequenced += _drain(log, day)
            sequencer.write_day_index(log)
    if imported:
        _analyse()
    run.refresh_from_db()
    return ImportResult(run, imported, rejected, skipped, already_done=False, direct=direct, sequenced=sequenced)


def _take_lease(stack: contextlib.ExitStack, log: LogServices) -> bool:
    """Hold ``log``'s sequencer lease until ``stack`` closes; False when another process has it."""
    try:
        stack.enter_context(SequencerLease(log.home, wait=False))
    except LeaseBusy:
        return False
    return True


def _drain(log: LogServices, day: datetime.date | None) -> int:
    """Sequence every entry waiting in the queue (published earlier, not logged yet)."""
    total = 0
    while n := sequencer.sequence_pending(log, batch_size=DRAIN_BATCH, day=day):
        total += n
    return total


@contextlib.contextmanager
def _sqlite_cache() -> Iterator[None]:
    """A larger page cache for this connection while importing (SQLite only)."""
    if connection.vendor != "sqlite":
        yield
        return
    with connection.cursor() as cursor:
        cursor.execute("PRAGMA cache_size")
        before = cursor.fetchone()[0]
        cursor.execute(f"PRAGMA cache_size = -{SQLITE_CACHE_KIB}")
    try:
        yield
    finally:
        with connection.cursor() as cursor:
            cursor.execute(f"PRAGMA cache_size = {int(before)}")


def _analyse() -> None:
    """Refresh PostgreSQL's planner statistics of the two tables an import fills. Until
    autovacuum gets to it, the planner would plan the declarations list for the tables'
    size before the import (measured after a 1M import: a scan and sort, ~1 s, instead of
    the index walk, ~6 ms). ``ANALYZE`` reads a fixed sample: seconds, whatever the size.
    SQLite's planner keeps no statistics unless asked and plans the list by its indexes."""
    if connection.vendor != "postgresql":
        return
    tables = ", ".join(connection.ops.quote_name(m._meta.db_table) for m in (Declaration, LogEntry))
    with connection.cursor() as cursor:
        cursor.execute(f"ANALYZE {tables}")


def _guess_day(day: datetime.date | None) -> datetime.date:
    """The leaf day workers encode with (today, UTC, unless given); ``_direct_batch``
    re-checks it against the log's last day, as every pass does."""
    return day or timezone.now().astimezone(datetime.UTC).date()


# A JSON Lines batch before parsing: ``(line number, the line's bytes)``, None for a line
# longer than ``formats.MAX_LINE_BYTES``. Parsing happens in ``_prepare`` (the workers).
RawLines = list[tuple[int, bytes | None]]


def _raw_jsonl(path: Path, after_line: int, size: int) -> Iterator[RawLines]:
    """The non-blank lines of a JSON Lines file after ``after_line``, in batches, unparsed:
    the main process only splits lines; the workers parse them (``_parse``), with the
    rules of ``formats.read_rows``."""
    batch: RawLines = []
    with open(path, "rb") as f:
        number = 0
        while raw := f.readline(MAX_LINE_BYTES + 1):
            number += 1
            if len(raw) > MAX_LINE_BYTES and not raw.endswith(b"\n"):
                while raw and not raw.endswith(b"\n"):  # the rest of the long line
                    raw = f.readline(MAX_LINE_BYTES + 1)
                item: bytes | None = None
            elif number <= after_line or not raw.strip():
                continue  # committed before, or blank (allowed and ignored)
            else:
                item = raw[3:] if number == 1 and raw.startswith(b"\xef\xbb\xbf") else raw
            if number > after_line:
                batch.append((number, item))
                if len(batch) >= size:
                    yield batch
                    batch = []
    if batch:
        yield batch


def _parse(raw: RawLines) -> list[Row]:
    return [
        _jsonl_row(n, data) if data is not None else Row(n, n, error=f"line longer than {MAX_LINE_BYTES} bytes")
        for n, data in raw
    ]


def _batches(rows: Iterable[Row], size: int) -> Iterable[list[Row]]:
    batch: list[Row] = []
    for row in rows:
        batch.append(row)
        if len(batch) >= size:
            yield batch
            batch = []
    if batch:
        yield batch


class _Staged:
    """The public fields of a declaration about to be written: what the registry's
    ``entry_body`` and ``Declaration.public_content`` read, without building a model
    instance per row."""

    __slots__ = ("alias", "statement", "region", "declared_on", "orgs", "channel", "salt", "tag", "tag_salt")
    public_content = Declaration.public_content

    def __init__(self, fields: dict[str, Any], salt: bytes, tag: str, tag_salt: str) -> None:
        self.alias = fields["alias"]
        self.statement = fields["statement"]
        self.region = fields["region"]
        self.declared_on = fields["declared_on"]
        self.orgs = fields["orgs"]
        self.channel = fields["channel"] or Channel.IMPORT
        self.salt = salt
        self.tag = tag
        self.tag_salt = tag_salt


@dataclass(frozen=True)
class _Task:
    """One batch to prepare: the rules, whether rows get receipt codes, the leaf day to
    encode with (None: queued, no leaves) and the rows."""

    rules: CampaignRules
    with_receipts: bool
    day: datetime.date | None
    rows: list[Row] | RawLines


@dataclass(frozen=True)
class _Prepared:
    """One batch, validated and ready to write: report lines ``(line, field, reason)``;
    declarations (``rows.ImportedDeclaration``); their receipt hashes (with receipt
    codes, else empty); per entry its body as JSON text (queued) or its leaf of ``day``
    (direct); the batch's tally deltas; the receipt codes ``(line, code)`` to hand out."""

    last_line: int
    problems: list[tuple[int, str, str]]
    rejected: int
    declarations: list[ImportedDeclaration]
    hashes: list[bytes]
    bodies: list[str]
    day: datetime.date | None
    leaves: list[bytes]
    tallies: collections.Counter[tuple[int, str, str]]
    codes: list[tuple[int, str]]


def _prepare(task: _Task) -> _Prepared:
    """Validate a batch and build its rows. No database access: runs in a worker process
    when ``jobs`` ≥ 1."""
    campaign = task.rules.campaign
    clean = task.rules.clean
    raw = task.rows  # Rows, or the raw lines a worker process parses here
    rows = cast("list[Row]", raw) if not raw or isinstance(raw[0], Row) else _parse(raw)
    day = task.day.isoformat() if task.day else None
    problems: list[tuple[int, str, str]] = []
    rejected = 0
    declarations: list[ImportedDeclaration] = []
    hashes: list[bytes] = []
    bodies: list[str] = []
    leaves: list[bytes] = []
    codes: list[tuple[int, str]] = []
    kinds: collections.Counter[tuple[str, tuple[str, ...]]] = collections.Counter()  # (channel, orgs)
    orgs_json: dict[tuple[str, ...], str] = {}
    randomness = b"" if task.with_receipts else os.urandom(64 * len(rows))
    for i, row in enumerate(rows):
        if row.error:
            problems.append((row.line, "", row.error))
            rejected += 1
            continue
        try:
            fields = clean(row.fields)
        except RowInvalid as exc:
            problems.extend((row.line, name, " ".join(msgs)) for name, msgs in exc.errors.items())
            rejected += 1
            continue
        if task.with_receipts:
            made, code = new_declaration(campaign, fields)
            codes.append((row.line, code))
            assert made.salt is not None and made.tag_salt is not None  # new_declaration sets both (leaf v2)
            salt, tag, tag_salt = bytes(made.salt), made.tag, made.tag_salt
            hashes.append(bytes(made.receipt_hash))
        else:  # a tag no receipt code hashes to; the receipt hash comes with the entry id
            r = randomness[64 * i : 64 * i + 64]
            salt, tag, tag_salt = r[:16], r[16:48].hex(), r[48:].hex()
        staged = _Staged(fields, salt, tag, tag_salt)
        body = entry_body(staged)  # type: ignore[arg-type]  # _Staged has the fields entry_body reads
        if day is None:
            bodies.append(json.dumps({"campaign": campaign.slug, **body}, ensure_ascii=False))
        else:
            leaves.append(leaf.encode_leaf(campaign=campaign.slug, day=day, **body))
        orgs = tuple(body["orgs"])
        kinds[(staged.channel, orgs)] += 1
        if orgs not in orgs_json:
            orgs_json[orgs] = json.dumps(staged.orgs)
        declared_on = fields["declared_on"]
        declarations.append(
            ImportedDeclaration(
                alias=staged.alias,
                statement=staged.statement,
                region=staged.region,
                declared_on=declared_on.isoformat() if declared_on is not None else None,
                salt=salt,
                orgs=orgs_json[orgs],
                channel=staged.channel,
                tag=tag,
                tag_salt=tag_salt,
            )
        )
    return _Prepared(
        rows[-1].end_line,
        problems,
        rejected,
        declarations,
        hashes,
        bodies,
        task.day,
        leaves,
        _tallies(campaign.pk, kinds),
        codes,
    )


def _tallies(campaign_id: int, kinds: collections.Counter[tuple[str, tuple[str, ...]]]) -> collections.Counter[tuple[int, str, str]]:
    """``sequencer.Batch.tallies`` of a batch counted as ``{(channel, orgs): n}``."""
    deltas: collections.Counter[tuple[int, str, str]] = collections.Counter()
    for (channel, orgs), n in kinds.items():
        for key in sequencer.tally_deltas([(campaign_id, channel, orgs)]):
            deltas[key] += n
    return deltas


def _prepare_all(tasks: Iterator[_Task], jobs: int) -> Iterator[_Prepared]:
    """``_prepare`` each task, in order; with ``jobs`` ≥ 1 in that many worker processes,
    at most ``2 * jobs`` batches ahead (memory stays bounded), else in this process."""
    if jobs == 0:
        yield from map(_prepare, tasks)
        return
    import multiprocessing

    pool = multiprocessing.get_context("fork").Pool(jobs)
    try:
        pending: collections.deque[Any] = collections.deque()
        for task in tasks:
            pending.append(pool.apply_async(_prepare, (task,)))
            if len(pending) >= 2 * jobs:
                yield pending.popleft().get()
        while pending:
            yield pending.popleft().get()
    finally:
        pool.terminate()
        pool.join()


def _direct_batch(run: ImportRun, campaign: Campaign, prepared: _Prepared, day: datetime.date | None) -> sequencer.Batch:
    """Step 2 of a direct pass: the prepared batch, its leaves re-encoded in the rare case
    the pass's leaf day is not the one the workers used (midnight, a clock gone back)."""
    chosen = sequencer.leaf_day(day)
    leaves = prepared.leaves
    if chosen != prepared.day:
        leaves = [_with_day(data, chosen) for data in leaves]
    return sequencer.Batch(
        chosen, leaves, prepared.tallies, lambda start, now: _write(run, campaign, prepared, (start, chosen, leaves), now)
    )


def _with_day(data: bytes, day: datetime.date) -> bytes:
    fields = leaf.parse_leaf(data)
    del fields["v"]
    fields["day"] = day.isoformat()
    return leaf.encode_leaf(**fields)


def _write(
    run: ImportRun,
    campaign: Campaign,
    prepared: _Prepared,
    logged: tuple[int, datetime.date, list[bytes]] | None,
    now: datetime.datetime | None,
) -> None:
    """Insert one batch and advance the run's resume point (inside a transaction).

    ``logged``: ``(first log index, leaf day, leaves)`` when the entries are sequenced in
    this same transaction (step 4 of a direct pass), else None: queued."""
    locked = ImportRun.objects.select_for_update().get(pk=run.pk)
    if locked.lines_done != run.lines_done:
        raise ImportConflict(
            f"another import of {run.file_name} into {campaign.slug} is running "
            f"(it committed up to line {locked.lines_done})"
        )
    n = len(prepared.declarations)
    ids = reserve_ids(LogEntry, n)
    channels = [d.channel for d in prepared.declarations]
    # Entries in the one shape of ``rows.imported_entries()``: id, channel, body, log_index, leaf.
    if logged is None:  # queued: no index, no leaf; the body is the sequencer's input
        table_rows.imported_entries().write(
            list(zip(ids, channels, prepared.bodies, [None] * n, [None] * n, strict=True)),
            campaign_id=campaign.pk,
            kind="declaration",
        )
    else:  # sequenced: the leaf carries every field, the body is empty
        start, day, leaves = logged
        table_rows.imported_entries().write(
            list(zip(ids, channels, ["{}"] * n, range(start, start + n), leaves, strict=True)),
            campaign_id=campaign.pk,
            kind="declaration",
            day=day,
            sequenced_at=now,
        )
    hashes = prepared.hashes or [NO_RECEIPT_PREFIX + i.to_bytes(8, "big") for i in ids]
    # Each row: the worker's ImportedDeclaration, then IMPORT_KEYS (entry_id, receipt_hash).
    table_rows.imported_declarations().write(
        [d + (i, h) for d, i, h in zip(prepared.declarations, ids, hashes, strict=True)],
        campaign_id=campaign.pk,
        status=Declaration.Status.PUBLISHED,
        published_at=now or timezone.now(),
    )
    ImportRun.objects.filter(pk=run.pk).update(
        lines_done=prepared.last_line,
        imported=F("imported") + n,
        rejected=F("rejected") + prepared.rejected,
        updated_at=timezone.now(),
    )


class _Report:
    """The bad-rows report: CSV ``line,field,reason``, appended to when resuming."""

    def __init__(self, path: Path, *, resume: bool) -> None:
        self.path = path
        self.resume = resume and path.exists()
        self.count = 0
        self._file: IO[str] | None = None

    def __enter__(self) -> _Report:
        self._file = open(self.path, "a" if self.resume else "w", encoding="utf-8", newline="")
        self._writer = csv.writer(self._file)
        if not self.resume:
            self._writer.writerow(["line", "field", "reason"])
        return self

    def add(self, line: int, field: str, reason: str) -> None:
        self._writer.writerow([line, field, reason])
        self.count += 1

    def flush(self) -> None:
        assert self._file is not None, "_Report.flush: not open"
        self._file.flush()
        os.fsync(self._file.fileno())

    def __exit__(self, *exc: object) -> None:
        if self._file is not None:
            self.flush()
            self._file.close()


class _Receipts:
    """The receipts file (mode 0600): CSV ``line,receipt``, appended to, fsynced per batch."""

    def __init__(self, path: Path | None) -> None:
        self.path = path
        self.enabled = path is not None
        self._fd: int | None = None

    def __enter__(self) -> _Receipts:
        if self.path is not None:
            new = not self.path.exists()
            self._fd = os.open(self.path, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o600)
            os.fchmod(self._fd, 0o600)
            if new:
                os.write(self._fd, b"line,receipt\n")
        return self

    def write(self, codes: list[tuple[int, str]]) -> None:
        if self._fd is None or not codes:
            return
        os.write(self._fd, "".join(f"{line},{code}\n" for line, code in codes).encode())
        os.fsync(self._fd)

    def __exit__(self, *exc: object) -> None:
        if self._fd is not None:
            os.close(self._fd)
            self._fd = None
