"""Backups of a home that can be restored and proven: the database and the log, taken
consistently while the site runs, and the secrets a restored site needs.

``take_backup(home, database, target, checkpoint, size)`` writes, into a new private
directory (mode 0700, files 0600):

- ``log/`` — the log: first the published ``checkpoint`` is read, then every other file of
  the log directory is copied, then that checkpoint is written. The log only grows, its
  tiles are written (atomically) before the checkpoint that covers them and none is ever
  deleted (ARCHITECTURE.md, the commit protocol), so the copy holds every tile of that
  checkpoint; tiles written meanwhile for a larger size are extra, never missing ones.
- the database, second — SQLite: ``db.sqlite3``, a snapshot by SQLite's online backup API
  (one read transaction: consistent while the server writes); PostgreSQL:
  ``database.dump``, by ``pg_dump --format=custom`` (one repeatable-read snapshot).
- ``secrets.json`` (the receipt-hash key: without it no receipt code can be checked, and
  Django's secret key) and ``signing.key`` (without it the restored site cannot sign its
  own log: a new key is a new log), and ``DEMONSTRATION`` when the home has it.
- ``MANIFEST.json``, last: what the backup holds, the checkpoint's size, and the SHA-256 of
  every file. A directory without it is not a (complete) backup.

Why the log first and the database second: the log's checkpoint is then never ahead of the
database. Every entry it covers was committed before it was published (step 4 before step
5), so the later database snapshot holds each one with its index; entries sequenced
between the two copies are in the database with their index and leaf, and the sequencer's
recovery (``registry.entries.sequencer.recover``: "tiles behind the committed state")
rebuilds their tiles from those leaves, which must reproduce the committed root; entries
still waiting in the snapshot are sequenced after the restore, once. Nothing is lost and
nothing logged twice. The other order could leave a checkpoint ahead of the database: its
last entries would be waiting again in the restored database, and the sequencer refuses
to run on it (the published checkpoint ahead of the committed size) rather than log them a
second time at other indexes, which would fork the log from a checkpoint already out.

Not in a backup: the shared cache (rate-limit counters, the daily hashing key: kept in
memory only, by design), the admin's collected static files (``restore`` collects them
again), the sequencer's lease, and the environment (``DATABASE_URL``, ``TALLYLOG_*``).

``read_manifest(source)`` checks every file against the manifest; ``check_restorable``
refuses a home that is not empty, a database of the other kind and a PostgreSQL database
that has tables; ``restore_backup`` then writes the home (mode 0700; secrets, key and
database 0600) and the database. The caller then migrates
and runs the sequencer's recovery, which brings the log up to the restored database.
"""

from __future__ import annotations

import datetime
import hashlib
import json
import os
import shutil
import sqlite3
import subprocess
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from tallylog.home import DEMO_MARKER, DIR_MODE, FILE_MODE, Home, write_private

FORMAT = "tallylog-backup/1"
MANIFEST = "MANIFEST.json"
SQLITE_FILE = "db.sqlite3"
DUMP_FILE = "database.dump"
LOG_DIR = "log"
CHECKPOINT = "checkpoint"  # tallylog.tlog.storage.CHECKPOINT_PATH
HOME_FILES = ("secrets.json", "signing.key", DEMO_MARKER)
CHUNK = 1 << 20


class BackupError(Exception):
    """A backup or restore that cannot be done; the message says why (nothing was changed
    at the destination, or, when a step failed midway, which step)."""


@dataclass(frozen=True)
class BackupInfo:
    """What ``take_backup`` wrote, or ``read_manifest`` found."""

    path: Path
    database: str  # "sqlite" or "postgresql"
    checkpoint_size: int | None  # the log's checkpoint in the backup (None: no entry logged yet)
    files: dict[str, str]  # backup-relative path -> SHA-256 (hex)
    created: str


# -- files --------------------------------------------------------------------------------


def _copy(src: Path, dst: Path, mode: int | None = None) -> str:
    """Copy ``src`` to the new file ``dst`` (``mode``, else the umask's); its SHA-256."""
    digest = hashlib.sha256()
    flags = os.O_WRONLY | os.O_CREAT | os.O_EXCL
    fd = os.open(dst, flags, 0o666 if mode is None else mode)
    try:
        with open(src, "rb") as f:
            while chunk := f.read(CHUNK):
                digest.update(chunk)
                view = memoryview(chunk)
                while view:
                    view = view[os.write(fd, view) :]
    finally:
        os.close(fd)
    return digest.hexdigest()


def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        while chunk := f.read(CHUNK):
            digest.update(chunk)
    return digest.hexdigest()


def _log_files(log_dir: Path) -> list[str]:
    """The log's files (``/``-separated, relative), the checkpoint and the store's
    temporary files (``.name….tmp``, never a published file) left out, sorted."""
    found = []
    for root, dirs, files in os.walk(log_dir):
        dirs[:] = sorted(d for d in dirs if not d.startswith("."))
        rel = Path(root).relative_to(log_dir)
        for name in sorted(files):
            if name.startswith(".") or (rel == Path(".") and name == CHECKPOINT):
                continue
            found.append((rel / name).as_posix())
    return found


def _empty_target(path: Path, what: str) -> None:
    if path.exists() and (not path.is_dir() or any(path.iterdir())):
        held = ", ".join(sorted(p.name for p in path.iterdir())[:6]) if path.is_dir() else "a file"
        raise BackupError(f"{what} {path} is not empty (it holds {held}): give a new or empty directory")


# -- the database -------------------------------------------------------------------------


def _postgres_env(database: Mapping[str, Any]) -> dict[str, str]:
    """The libpq environment of Django's ``database`` (the password never on a command line)."""
    env = dict(os.environ)
    for var, key in (("PGHOST", "HOST"), ("PGPORT", "PORT"), ("PGUSER", "USER"), ("PGPASSWORD", "PASSWORD")):
        if database.get(key):
            env[var] = str(database[key])
    env["PGDATABASE"] = str(database["NAME"])
    return env


def _run(command: list[str], env: dict[str, str], step: str) -> None:
    try:
        proc = subprocess.run(command, env=env, capture_output=True, text=True, check=False)
    except FileNotFoundError:
        raise BackupError(f"couldn't {step}: {command[0]} is not installed (Debian: postgresql-client)") from None
    if proc.returncode != 0:
        raise BackupError(f"couldn't {step}: {command[0]} said: {proc.stderr.strip()[-2000:]}")


def database_kind(database: Mapping[str, Any]) -> str:
    engine = str(database.get("ENGINE", ""))
    if engine.endswith("dummy"):
        raise BackupError("the database setting is bad (DATABASE_URL, check tallylog.E010): fix it first")
    if engine.endswith("sqlite3"):
        return "sqlite"
    if engine.endswith("postgresql"):
        return "postgresql"
    raise BackupError(f"the database engine {engine!r} cannot be backed up (SQLite or PostgreSQL only)")


def _backup_database(database: Mapping[str, Any], target: Path) -> str:
    """Write the database's snapshot into ``target``; its file name there."""
    if database_kind(database) == "sqlite":
        dst_path = target / SQLITE_FILE
        os.close(os.open(dst_path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, FILE_MODE))
        src = sqlite3.connect(str(database["NAME"]), timeout=60)
        dst = sqlite3.connect(str(dst_path))
        try:
            src.backup(dst)  # all pages in one step: one consistent snapshot
            dst.execute("PRAGMA journal_mode=DELETE")  # one self-contained file, no -wal
        finally:
            dst.close()
            src.close()
        return SQLITE_FILE
    _run(
        ["pg_dump", "--format=custom", "--no-owner", "--no-privileges", f"--file={target / DUMP_FILE}"],
        _postgres_env(database),
        "dump the PostgreSQL database",
    )
    os.chmod(target / DUMP_FILE, FILE_MODE)
    return DUMP_FILE


def postgres_tables(database: Mapping[str, Any]) -> list[str]:
    """The tables in the public schema of the PostgreSQL ``database``."""
    import psycopg

    from tallylog.registry.entries.lease import connection_params

    params = {**connection_params(database), "application_name": "tallylog-restore"}
    try:
        with psycopg.connect(**params) as conn:
            rows = conn.execute("SELECT tablename FROM pg_tables WHERE schemaname = 'public' ORDER BY 1").fetchall()
    except psycopg.Error as exc:
        raise BackupError(f"couldn't reach the PostgreSQL database {database['NAME']}: {exc}") from None
    return [r[0] for r in rows]


# -- backup -------------------------------------------------------------------------------


def take_backup(
    home: Home, database: Mapping[str, Any], target: Path, checkpoint: bytes | None, checkpoint_size: int | None
) -> BackupInfo:
    """Back up ``home`` and ``database`` (Django's ``DATABASES["default"]``) into the new or
    empty directory ``target``, manifest last. ``checkpoint`` is the log's published
    checkpoint (of ``checkpoint_size``), read by the caller *before* this call: the
    module's order is checkpoint, log files, database."""
    kind = database_kind(database)
    _empty_target(target, "the backup directory")
    target.mkdir(mode=DIR_MODE, parents=True, exist_ok=True)
    os.chmod(target, DIR_MODE)
    files: dict[str, str] = {}
    for name in HOME_FILES:
        if (home.path / name).exists():
            files[name] = _copy(home.path / name, target / name, FILE_MODE)
    # 1. The log: every file but the checkpoint, then the checkpoint read before them.
    log_target = target / LOG_DIR
    log_target.mkdir(mode=DIR_MODE)
    for rel in _log_files(home.log_dir):
        dst = log_target / rel
        dst.parent.mkdir(mode=DIR_MODE, parents=True, exist_ok=True)
        files[f"{LOG_DIR}/{rel}"] = _copy(home.log_dir / rel, dst, FILE_MODE)
    if checkpoint is not None:
        files[f"{LOG_DIR}/{CHECKPOINT}"] = hashlib.sha256(checkpoint).hexdigest()
        write_private(log_target / CHECKPOINT, checkpoint)
    # 2. The database, after the log: never behind the checkpoint copied above.
    name = _backup_database(database, target)
    files[name] = _sha256(target / name)
    info = BackupInfo(
        path=target,
        database=kind,
        checkpoint_size=checkpoint_size,
        files=dict(sorted(files.items())),
        created=datetime.datetime.now(datetime.UTC).isoformat(timespec="seconds"),
    )
    write_manifest(info)
    return info


def write_manifest(info: BackupInfo) -> None:
    """Write ``MANIFEST.json`` last, after everything before it is on disk: a backup with a
    manifest is complete (``read_manifest`` is its other end)."""
    os.sync()  # every file of the backup durable before the manifest says it is there
    body = {
        "format": FORMAT,
        "created": info.created,
        "database": info.database,
        "checkpoint_size": info.checkpoint_size,
        "files": info.files,
    }
    tmp = info.path / f".{MANIFEST}.tmp"
    write_private(tmp, json.dumps(body, indent=1, sort_keys=True).encode() + b"\n")
    os.replace(tmp, info.path / MANIFEST)
    dir_fd = os.open(info.path, os.O_RDONLY | os.O_DIRECTORY)
    try:
        os.fsync(dir_fd)
    finally:
        os.close(dir_fd)


def read_manifest(source: Path) -> BackupInfo:
    """The backup in ``source``, every file checked against its SHA-256 in the manifest
    (``write_manifest``'s other end); ``BackupError`` naming what is wrong."""
    try:
        body = json.loads((source / MANIFEST).read_text())
    except FileNotFoundError:
        raise BackupError(f"{source} is not a complete tallylog backup: it has no {MANIFEST}") from None
    except (OSError, ValueError) as exc:
        raise BackupError(f"couldn't read {source / MANIFEST}: {exc}") from None
    if not isinstance(body, dict) or body.get("format") != FORMAT:
        raise BackupError(f"{source / MANIFEST} is not a {FORMAT} manifest")
    files = body.get("files")
    if body.get("database") not in ("sqlite", "postgresql") or not isinstance(files, dict):
        raise BackupError(f"{source / MANIFEST} is malformed")
    for rel, expected in files.items():
        path = source / rel
        if ".." in Path(rel).parts or Path(rel).is_absolute():
            raise BackupError(f"{source / MANIFEST} names a file outside the backup: {rel!r}")
        try:
            actual = _sha256(path)
        except FileNotFoundError:
            raise BackupError(f"the backup is incomplete: {rel} is missing") from None
        if actual != expected:
            raise BackupError(f"the backup is damaged: {rel} does not match its SHA-256 in {MANIFEST}")
    return BackupInfo(source, body["database"], body.get("checkpoint_size"), files, str(body.get("created", "")))


# -- restore ------------------------------------------------------------------------------


def check_restorable(info: BackupInfo, home: Home, database: Mapping[str, Any]) -> None:
    """Refuse a home that is not empty, a database of the other kind, or a PostgreSQL
    database that already has tables, before anything is written."""
    _empty_target(home.path, "the home")
    kind = database_kind(database)
    if kind != info.database:
        where = "set DATABASE_URL to an empty PostgreSQL database" if info.database == "postgresql" else "unset DATABASE_URL"
        raise BackupError(f"the backup holds a {info.database} database, but this home's database is {kind}: {where}")
    if kind == "postgresql":
        tables = postgres_tables(database)
        if tables:
            raise BackupError(
                f"the PostgreSQL database {database['NAME']} is not empty (it has {len(tables)} tables, "
                f"e.g. {tables[0]}): restore into a new, empty database"
            )


def restore_backup(info: BackupInfo, home: Home, database: Mapping[str, Any]) -> None:
    """Write the backup ``info`` (checked by ``read_manifest``) into the empty ``home`` and
    ``database`` (checked by ``check_restorable``): the home private (0700, secrets, key and
    database 0600), the log files as the log's store writes them. When a step fails, what
    it wrote in the home is removed again (the home was empty) and ``BackupError`` says
    what failed."""
    existed = home.path.exists()
    try:
        _restore_files(info, home, database)
    except BaseException as exc:
        if existed:
            for child in home.path.iterdir():
                if child.is_dir() and not child.is_symlink():
                    shutil.rmtree(child)
                else:
                    child.unlink()
        else:
            shutil.rmtree(home.path, ignore_errors=True)
        if isinstance(exc, BackupError) and info.database == "postgresql":
            raise BackupError(
                f"{exc}; the database {database['NAME']} may hold part of the backup: drop and create it "
                "again before trying once more"
            ) from None
        raise


def _restore_files(info: BackupInfo, home: Home, database: Mapping[str, Any]) -> None:
    home.path.mkdir(mode=DIR_MODE, parents=True, exist_ok=True)
    os.chmod(home.path, DIR_MODE)
    source = info.path
    for rel in info.files:
        if rel in HOME_FILES:
            _copy(source / rel, home.path / rel, FILE_MODE)
        elif rel.startswith(f"{LOG_DIR}/"):
            dst = home.path / rel
            dst.parent.mkdir(parents=True, exist_ok=True)
            shutil.copyfile(source / rel, dst)
    home.log_dir.mkdir(exist_ok=True)
    if info.database == "sqlite":
        _copy(source / SQLITE_FILE, Path(database["NAME"]), FILE_MODE)
    else:
        _run(
            [
                "pg_restore", "--no-owner", "--no-privileges", "--exit-on-error",
                f"--dbname={database['NAME']}", str(source / DUMP_FILE),
            ],
            _postgres_env(database),
            "restore the PostgreSQL database",
        )
    os.sync()
    home.make_private()
