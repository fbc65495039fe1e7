"""The streaming bulk importer: a JSON Lines or CSV file of declarations into a campaign.

``import_file`` reads the file once to hash it (its identity for resuming), then streams
its records (``formats.read_rows``) in batches. Each row is normalised and validated by the
registry's own rules; the good rows of a batch are saved with ``bulk_create`` — their
declarations published, their log entries queued for the sequencer — and the run's resume
point is advanced, all in ONE transaction. Memory stays bounded by the batch size.

Crash safety: a crash loses at most the batch in flight, which was not committed; running
the same import again skips every committed line (``ImportRun.lines_done``) and imports
the rest, so each row is imported exactly once. The report and receipts files are written
and flushed to disk *before* the batch commits: after a crash they may list the lines of
the lost batch twice (the later entry is the one that counts), never miss one.

Receipt codes: an imported declaration gets no receipt code by default — nobody could be
given thousands of them — but a random ``tag`` that no code hashes to, and a random keyed
hash no code matches. With ``receipts_path`` each row gets a real code, written with its
line number to that file (mode 0600) for the operator to pass on; only its keyed hash is
stored, as for any declaration.
"""

from __future__ import annotations

import csv
import os
import secrets
import collections
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Any

from django.db import transaction
from django.db.models import F
from django.utils import timezone

from tallylog.registry.campaigns.models import Campaign
from tallylog.registry.declarations.actions import entry_body, new_declaration
from tallylog import leaf
from tallylog.registry.declarations.models import Channel, Declaration
from tallylog.registry.entries.models import LogEntry
from tallylog.registry.imports.bulk import TableWriter, reserve_ids
from tallylog.registry.imports.formats import Row, read_rows, summarise
from tallylog.registry.imports.models import ImportRun
from tallylog.registry.imports.validation import CampaignRules, RowInvalid

DEFAULT_BATCH = 10_000


class ImportConflict(RuntimeError):
    """Another import of the same file into the same campaign is running."""


@dataclass(frozen=True)
class ImportResult:
    """What one call of ``import_file`` did. ``skipped_lines`` were committed by an
    earlier run; ``already_done`` means the file had been imported completely before."""

    run: ImportRun
    imported: int
    rejected: int
    skipped_lines: int
    already_done: bool


def import_file(
    campaign: Campaign,
    path: Path,
    *,
    fmt: str,
    report_path: Path,
    receipts_path: Path | None = None,
    batch_size: int = DEFAULT_BATCH,
    jobs: int = 1,
    progress: Callable[[int, int], None] | None = None,
) -> ImportResult:
    """Import the declarations in ``path`` (``fmt`` ``jsonl`` or ``csv``) into ``campaign``.

    Bad rows go to ``report_path`` (CSV: ``line,field,reason``) and the good ones are
    imported. With ``jobs`` > 1, that many worker processes validate and prepare the
    batches (no database access) while this one writes them, in file order.
    ``progress(advanced, total)`` is called with the number of lines each
    committed batch advanced and the file's number of lines. Raises
    ``formats.ImportFileError`` when the file as a whole is unusable,
    ``validation.CampaignClosed`` when the campaign takes no declarations,
    ``ImportConflict`` when the same import runs elsewhere at the same time.
    """
    if batch_size < 1 or jobs < 1:
        raise ValueError("batch_size and jobs must be at least 1")
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

    imported = rejected = 0
    with _Report(report_path, resume=skipped > 0) as report, _Receipts(receipts_path) as receipts:
        batches = _batches(read_rows(path, fmt, after_line=skipped), batch_size)
        tasks = ((rules, receipts.enabled, batch) for batch in batches)
        for prepared in _prepare_all(tasks, jobs):
            for problem in prepared.problems:
                report.add(*problem)
            report.flush()
            receipts.write(prepared.codes)
            lines_before = run.lines_done
            _commit_batch(run, campaign, prepared)
            imported += len(prepared.declarations)
            rejected += prepared.rejected
            if progress:
                progress(run.lines_done - lines_before, summary.lines)
    with transaction.atomic():
        ImportRun.objects.filter(pk=run.pk).update(
            finished_at=timezone.now(), lines_done=max(run.lines_done, summary.lines)
        )
    run.refresh_from_db()
    return ImportResult(run, imported, rejected, skipped, already_done=False)


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

    __slots__ = ("alias", "statement", "region", "declared_on", "orgs", "channel", "salt", "tag")
    public_content = Declaration.public_content

    def __init__(self, fields: dict[str, Any], salt: bytes, tag: str) -> None:
        self.alias = fields["alias"]
        self.statement = fields["statement"]
        self.region = fields["region"]
        self.declared_on = fields["declared_on"]
        self.orgs = fields["orgs"]
        self.channel = fields["channel"] or Channel.IMPORT
        self.salt = salt
        self.tag = tag


@dataclass(frozen=True)
class _Prepared:
    """One batch, validated and ready to write: report lines ``(line, field, reason)``,
    rows of both tables, and the receipt codes ``(line, code)`` to hand out."""

    last_line: int
    problems: list[tuple[int, str, str]]
    rejected: int
    entries: list[dict[str, Any]]
    declarations: list[dict[str, Any]]
    codes: list[tuple[int, str]]


def _prepare(task: tuple[CampaignRules, bool, list[Row]]) -> _Prepared:
    """Validate a batch and build its rows. No database access: runs in a worker process
    when ``jobs`` > 1."""
    rules, with_receipts, batch = task
    campaign = rules.campaign
    now = timezone.now()
    problems: list[tuple[int, str, str]] = []
    rejected = 0
    entries: list[dict[str, Any]] = []
    declarations: list[dict[str, Any]] = []
    codes: list[tuple[int, str]] = []
    for row in batch:
        if row.error:
            problems.append((row.line, "", row.error))
            rejected += 1
            continue
        try:
            fields = rules.clean(row.fields)
        except RowInvalid as exc:
            problems.extend((row.line, name, " ".join(msgs)) for name, msgs in exc.errors.items())
            rejected += 1
            continue
        if with_receipts:
            made, code = new_declaration(campaign, fields)
            codes.append((row.line, code))
            salt, digest, tag = bytes(made.salt), bytes(made.receipt_hash), made.tag
        else:  # a tag no receipt code hashes to, a keyed hash no code matches
            salt, digest, tag = leaf.new_salt(), secrets.token_bytes(32), secrets.token_hex(32)
        staged = _Staged(fields, salt, tag)
        body = {"campaign": campaign.slug, **entry_body(staged)}  # as enqueue_entry stores it
        entries.append(
            {"campaign_id": campaign.pk, "kind": body["kind"], "channel": staged.channel, "body": body}
        )
        declarations.append(
            {
                **fields,
                "campaign_id": campaign.pk,
                "channel": staged.channel,
                "salt": salt,
                "receipt_hash": digest,
                "tag": tag,
                "status": Declaration.Status.PUBLISHED,
                "published_at": now,
            }
        )
    return _Prepared(batch[-1].end_line, problems, rejected, entries, declarations, codes)


def _prepare_all(
    tasks: Iterator[tuple[CampaignRules, bool, list[Row]]], jobs: int
) -> Iterator[_Prepared]:
    """``_prepare`` each task, in order; with ``jobs`` > 1 in that many worker processes,
    at most ``2 * jobs`` batches ahead (memory stays bounded)."""
    if jobs == 1:
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


def _commit_batch(run: ImportRun, campaign: Campaign, prepared: _Prepared) -> None:
    """Save one batch and the run's new resume point in one transaction."""
    entries, declarations = prepared.entries, prepared.declarations
    with transaction.atomic():
        locked = ImportRun.objects.select_for_update().get(pk=run.pk)
        if locked.lines_done != run.lines_done:
            raise ImportConflict(
                f"another import of {run.file_name} into {campaign.slug} is running "
                f"(it committed up to line {locked.lines_done})"
            )
        for entry, entry_id in zip(entries, reserve_ids(LogEntry, len(entries))):
            entry["id"] = entry_id
        for declaration, entry in zip(declarations, entries):
            declaration["entry_id"] = entry["id"]
        _writers().entries.write(entries)
        _writers().declarations.write(declarations)
        ImportRun.objects.filter(pk=run.pk).update(
            lines_done=prepared.last_line,
            imported=F("imported") + len(declarations),
            rejected=F("rejected") + prepared.rejected,
            updated_at=timezone.now(),
        )
    run.lines_done = prepared.last_line


@dataclass(frozen=True)
class _Writers:
    entries: TableWriter
    declarations: TableWriter


def _writers() -> _Writers:
    """The table writers of the current database connection (built once per vendor)."""
    from django.db import connection

    key = connection.vendor
    if key not in _WRITERS:
        _WRITERS[key] = _Writers(
            TableWriter(LogEntry, with_pk=True), TableWriter(Declaration, with_pk=False)
        )
    return _WRITERS[key]


_WRITERS: dict[str, _Writers] = {}


class _Report:
    """The bad-rows report: CSV ``line,field,reason``, appended to when resuming."""

    def __init__(self, path: Path, *, resume: bool) -> None:
        self.path = path
        self.resume = resume and path.exists()
        self.count = 0
        self._file: IO[str] | None = None

    def __enter__(self) -> "_Report":
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

    def __enter__(self) -> "_Receipts":
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
