"""The transparency log's commands: what an operator and an auditor run.

- ``tallylog keygen --origin ORIGIN --out KEYFILE``: a new Ed25519 signer key (C2SP
  signed-note), file mode 0600; prints the verifier key as its last line.
- ``tallylog log append DIR --key KEYFILE [--batch N]``: entries from standard input, one
  per line, appended to the log in DIR; a signed checkpoint published; prints the new size.
- ``tallylog verify SOURCE --key VKEY [--state FILE]``: the full audit (see ``audit``).
- ``tallylog prove SOURCE --key VKEY --index I``: an inclusion proof as JSON.
- ``tallylog recount SOURCE --key VKEY [--json]``: the audit, then the tally recomputed
  from the entries themselves.
- ``tallylog check-receipt CODE --source MIRROR --key VKEY [--day YYYY-MM-DD]``: find one's
  own entry locally, among downloaded entry bundles, and verify its inclusion.

SOURCE is a log directory or the HTTP(S) base URL it is served at (the URL of which
``checkpoint`` and ``tile/…`` are children). None of these commands loads Django; they use
``tallylog.tlog`` and ``tallylog.leaf`` only. The auditor's four (verify, prove, recount,
check-receipt) are in ``tallylog.cli.auditcmds``; the work is
``tallylog.tlog.client`` and ``tallylog.tlog.audit``.
"""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Iterator
from typing import IO, Any

from tallylog.cli import CLIError

__all__ = ["register"]


def register(sub: argparse._SubParsersAction, common: argparse.ArgumentParser) -> None:
    """Add ``keygen``, ``log append``, ``verify``, ``prove``, ``recount`` and ``check-receipt``."""
    p = sub.add_parser(
        "keygen",
        parents=[common],
        help="create a log signing key",
        description="Write a new Ed25519 signer key (C2SP signed-note format, mode 0600) "
        "and print its verifier key as the last line.",
    )
    p.add_argument("--origin", required=True, help="the log's origin line, e.g. example.org/log")
    p.add_argument("--out", required=True, metavar="KEYFILE", help="the new key file (never overwritten)")
    p.set_defaults(func=cmd_keygen)

    p = sub.add_parser("log", parents=[common], help="low-level log operations")
    log_sub = p.add_subparsers(dest="log_command", metavar="ACTION", required=True)
    p = log_sub.add_parser(
        "append",
        parents=[common],
        help="append entries from standard input",
        description="Append standard input, one entry per line (the line's bytes without "
        "the newline), to the log in DIR (created if absent); publish a signed checkpoint; "
        "print the new size.",
    )
    p.add_argument("dir", metavar="DIR", help="the log directory")
    p.add_argument("--key", required=True, metavar="KEYFILE", help="the signer key file")
    p.add_argument("--batch", type=positive, default=4096, metavar="N", help="entries per batch (default 4096)")
    p.set_defaults(func=cmd_log_append)


def positive(text: str) -> int:
    """An argparse type: a whole number, at least 1."""
    value = natural(text)
    if value == 0:
        raise argparse.ArgumentTypeError("must be at least 1")
    return value


def natural(text: str) -> int:
    """An argparse type: a whole number (0 allowed), digits only."""
    if not text.isascii() or not text.isdigit():
        raise argparse.ArgumentTypeError(f"{text!r} is not a whole number")
    return int(text)


# --- keygen ------------------------------------------------------------------------------


def cmd_keygen(args: argparse.Namespace) -> int:
    """Write a new signer key to ``--out`` (mode 0600, never overwriting); print the verifier key."""
    from tallylog.home import write_private
    from tallylog.tlog import note

    try:
        skey, vkey = note.generate_key(args.origin)
    except ValueError as exc:
        raise CLIError(f"bad origin {args.origin!r}: {exc}") from None
    try:
        write_private(path(args.out), skey.encode() + b"\n")
    except FileExistsError:
        raise CLIError(f"{args.out} already exists; not overwriting a key") from None
    except OSError as exc:
        raise CLIError(f"couldn't write {args.out}: {exc.strerror}") from None
    print(f"wrote the signer key for {args.origin} to {args.out} (keep it secret)")
    print(vkey)
    return 0


def path(text: str) -> str:
    """A path as typed, ``~`` expanded."""
    return os.path.expanduser(text)


def read_file(name: str, what: str, limit: int = 1 << 21) -> bytes:
    """The bytes of file ``name`` (``-``: standard input), at most ``limit`` of them, or a
    CLI error saying which ``what`` could not be read."""
    try:
        if name == "-":
            data = sys.stdin.buffer.read(limit + 1)
        else:
            with open(path(name), "rb") as f:
                data = f.read(limit + 1)
    except OSError as exc:
        raise CLIError(f"couldn't read {what} {name}: {exc.strerror}") from None
    if len(data) > limit:
        raise CLIError(f"{what} {name} is too large")
    return data


def read_verifier(vkey: str) -> Any:
    """The note verifier of key ``vkey`` (``name+hexid+base64``), or a CLI error."""
    from tallylog.tlog import note

    try:
        return note.Verifier(vkey.strip())
    except ValueError as exc:
        raise CLIError(f"bad verifier key: {exc}") from None


def read_signer(keyfile: str) -> Any:
    from tallylog.tlog import note

    try:
        with open(path(keyfile), encoding="utf-8") as f:
            skey = f.read().strip()
    except OSError as exc:
        raise CLIError(f"couldn't read the key file {keyfile}: {exc.strerror}") from None
    except UnicodeDecodeError:
        raise CLIError(f"{keyfile} is not a signer key file") from None
    try:
        return note.Signer(skey)
    except ValueError as exc:
        raise CLIError(f"{keyfile} is not a signer key: {exc}") from None


# --- log append --------------------------------------------------------------------------


def _lines(stream: IO[bytes], batch: int) -> Iterator[list[bytes]]:
    """Standard input in batches of ``batch`` entries: each line's bytes without its ``\\n``."""
    current: list[bytes] = []
    for number, line in enumerate(stream, 1):
        if line.endswith(b"\n"):
            line = line[:-1]
        if len(line) > 0xFFFF:
            raise CLIError(f"line {number}: an entry is at most 65535 bytes, this one {len(line)}")
        current.append(line)
        if len(current) == batch:
            yield current
            current = []
    if current:
        yield current


def cmd_log_append(args: argparse.Namespace) -> int:
    """Append standard input to the log in DIR and publish a signed checkpoint."""
    from tallylog.tlog import Appender, storage

    signer = read_signer(args.key)
    try:
        os.makedirs(path(args.dir), exist_ok=True)
        store = storage.FileStore(path(args.dir))
        appender = Appender.open(store, signer, signer.name)
    except OSError as exc:
        raise CLIError(f"couldn't open the log in {args.dir}: {exc}") from None
    except ValueError as exc:  # tallylog.tlog errors about the stored state
        raise CLIError(f"couldn't open the log in {args.dir}: {exc}") from None
    start = appender.size
    try:
        for entries in _lines(sys.stdin.buffer, args.batch):
            appender.stage(entries)
        if appender.size > start:
            appender.publish()
    except (OSError, ValueError, RuntimeError) as exc:
        raise CLIError(f"couldn't append to the log in {args.dir}: {exc}; it stays at size {start}") from None
    print(appender.size)
    return 0
