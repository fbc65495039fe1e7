"""The operator's commands: ``status`` (the site's health, as ``/metrics`` reads it),
``backup DIR`` and ``restore DIR`` (docs/operating.md). Argument parsing and printing only:
the readings are ``tallylog.ops.health``, the backups ``tallylog.ops.backup``."""

from __future__ import annotations

import argparse
import sqlite3
import sys
from pathlib import Path
from typing import Any

from tallylog.cli import CLIError, setup_django
from tallylog.cli.sitecmds import _ready_log, _recover_or_fail

__all__ = ["register"]


def register(sub: argparse._SubParsersAction, common: argparse.ArgumentParser) -> None:
    """Add ``status``, ``backup`` and ``restore``."""
    p = sub.add_parser(
        "status",
        parents=[common],
        help="the site's health: the log, the sequencer, witnesses, mail, rate limits",
        description="Print what /metrics serves, for a person. Exits with status 1, naming "
        "each reason on standard error, when something is unhealthy: the sequencer late or "
        "stopped, the checkpoint not covering the log, witnesses short of the quorum.",
    )
    p.set_defaults(func=cmd_status)

    p = sub.add_parser(
        "backup",
        parents=[common],
        help="back up the database, the log and the keys into a new directory",
        description="Copy the log (its checkpoint first), then the database (SQLite's "
        "online backup, or pg_dump), the secrets and the signing key into DIR, a new or "
        "empty directory (mode 0700), with a manifest of every file's SHA-256. Safe while "
        "the site runs. The backup holds secrets: keep it as private as the home.",
    )
    p.add_argument("dir", metavar="DIR", help="where to write the backup (new or empty)")
    p.set_defaults(func=cmd_backup)

    p = sub.add_parser(
        "restore",
        parents=[common],
        help="restore a backup into a new, empty home (and empty database)",
        description="Check every file of the backup in DIR against its manifest, restore it "
        "into --home (which must be empty; with DATABASE_URL, into an empty PostgreSQL "
        "database), migrate, and bring the log up to the restored database.",
    )
    p.add_argument("dir", metavar="DIR", help="the backup directory")
    p.set_defaults(func=cmd_restore)


# -- status ------------------------------------------------------------------------------


def _ago(seconds: float | None) -> str:
    return "never" if seconds is None else f"{seconds:.0f} s ago"


def _counts(values: dict[Any, int]) -> str:
    return ", ".join(f"{'/'.join(k) if isinstance(k, tuple) else k} {n}" for k, n in values.items()) or "none"


def describe(h: Any) -> list[str]:
    """The lines ``tallylog status`` prints for the reading ``h`` (``tallylog.ops.health.Health``)."""
    received, published = h.declarations_received(), h.declarations_published()
    lines = [
        f"log: {h.log_size} entries; checkpoint "
        + (f"of size {h.checkpoint_size}, recorded {_ago(h.checkpoint_age)}" if h.checkpoint_size is not None else "none"),
        f"sequencer: last pass {_ago(h.last_pass_age)}; {h.waiting_total} entries waiting for their batch"
        + (f", the oldest for {h.oldest_waiting_age:.0f} s" if h.oldest_waiting_age is not None else "")
        + f"; lag {h.sequencer_lag:.0f} s (limit {h.lag_limit:.0f} s, publication interval {h.publish_interval} s)",
        f"declarations held for review: {h.held_total}" + (f" ({_counts(h.held)})" if h.held else ""),
        "declarations by channel: received / published",
    ]
    lines += [f"  {channel}: {n} / {published.get(channel, 0)}" for channel, n in received.items()] or ["  none"]
    lines.append(f"log entries by kind/channel: {_counts(h.logged)}")
    if h.witnesses:
        lines.append(f"witnesses (quorum {h.witness_quorum}):")
        for w in h.witnesses:
            failing = "; its last attempt failed" if w.failing else ""
            lines.append(
                f"  {w.name}: cosigned size {w.cosigned_size} ({w.behind} behind), {_ago(w.cosigned_age)}{failing}"
            )
    else:
        lines.append("witnesses: none configured")
    lines.append(f"mail queue (newsletter deliveries): {_counts(h.mail)}")
    lines.append(f"rate-limit refusals: {_counts(h.refusals)}")
    return lines


def cmd_status(args: argparse.Namespace) -> int:
    _ready_log(args)
    from tallylog.ops.health import problems, read_health

    health = read_health()
    print("\n".join(describe(health)))
    found = problems(health)
    for reason in found:
        print(f"tallylog status: unhealthy: {reason}", file=sys.stderr)
    print("status: " + ("UNHEALTHY" if found else "healthy"))
    return 1 if found else 0


# -- backup and restore ------------------------------------------------------------------


def cmd_backup(args: argparse.Namespace) -> int:
    log_services = _ready_log(args)
    from django.conf import settings

    from tallylog.ops.backup import BackupError, take_backup
    from tallylog.registry.entries.sequencer import checkpoint_size

    target = Path(args.dir).expanduser().resolve()
    started = target.exists() and any(target.iterdir())
    checkpoint = log_services.checkpoint()  # first: the log's copy is never ahead of the database's
    try:
        info = take_backup(
            log_services.home, settings.DATABASES["default"], target, checkpoint, checkpoint_size(log_services, checkpoint)
        )
    except (BackupError, OSError, sqlite3.Error) as exc:
        left = not started and target.is_dir() and any(target.iterdir())
        partial = f" ({target} holds an incomplete backup, without a manifest: delete it)" if left else ""
        raise CLIError(f"couldn't back up: {exc}{partial}") from None
    print(f"backup: {info.path}")
    print(f"database: {info.database}; log checkpoint size: {info.checkpoint_size or 0}; {len(info.files)} files")
    print(f"verifier key: {log_services.verifier_key}")
    print("it holds the receipt-hash key and the signing key: keep it as private as the home")
    return 0


def cmd_restore(args: argparse.Namespace) -> int:
    from tallylog.config import databases
    from tallylog.home import Home
    from tallylog.ops.backup import BackupError, check_restorable, read_manifest, restore_backup

    home = Home.from_env(args.home)
    database = databases(home.db_path)["default"]
    try:
        info = read_manifest(Path(args.dir).expanduser().resolve())
        check_restorable(info, home, database)
        restore_backup(info, home, database)
    except (BackupError, OSError) as exc:
        raise CLIError(f"couldn't restore: {exc}") from None
    args.home = str(home.path)
    setup_django(args)
    from django.core.management import call_command

    call_command("migrate", interactive=False, verbosity=0)  # a backup from an older version
    call_command("collectstatic", interactive=False, verbosity=0)  # not in a backup: derived
    log_services = _ready_log(args)
    _recover_or_fail(log_services)  # the log brought up to the restored database
    from tallylog.registry.entries.models import LogState

    print(f"restored {info.path} (taken {info.created}) into {home.path}")
    print(f"log: checkpoint of the backup at size {info.checkpoint_size or 0}; log now at size {LogState.current().size}")
    print(f"verifier key: {log_services.verifier_key}")
    print(f"check it: tallylog verify {home.log_dir} --key {log_services.verifier_key}")
    return 0
