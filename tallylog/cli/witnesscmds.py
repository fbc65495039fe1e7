"""Witness cosignatures and proofs that travel (C2SP tlog-witness, tlog-cosignature, tlog-proof).

- ``tallylog witness keygen NAME FILE``: a new witness key (Ed25519, cosignature/v1), file
  mode 0600; prints the witness's verifier key (type 0x04) as the last line.
- ``tallylog witness serve --key FILE --log VKEY [--log …] --port P [--host H] [--state DB]``:
  a witness speaking tlog-witness (POST /add-checkpoint), its state in SQLite.
- ``tallylog witness add VKEY URL``, ``witness list``, ``witness remove NAME``: the witnesses
  this home's sequencer asks to cosign each new checkpoint (``tallylog.registry.entries.cosigning``).
- ``tallylog log cosign DIR --key KEYFILE --witness VKEY=URL [--witness …] [--quorum N]``:
  submit the log's current checkpoint to the witnesses; when at least N cosigned, rewrite
  DIR/checkpoint atomically with their cosignatures appended; otherwise leave it and exit 1.

``tallylog verify-proof`` (check a ``c2sp.org/tlog-proof@v1`` file offline) is an
auditor's command: ``tallylog.cli.auditcmds``.

``--quorum`` defaults to every witness given. Only ``witness add/list/remove`` load Django.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Any

from tallylog.cli import CLIError, setup_django
from tallylog.cli.auditcmds import quorum_of
from tallylog.cli.logcmds import natural, positive, read_file, read_signer, read_verifier
from tallylog.cli.logcmds import path as expand_path

__all__ = ["register"]


def register(sub: argparse._SubParsersAction, common: argparse.ArgumentParser) -> None:
    """Add ``witness keygen``, ``witness serve`` and ``log cosign``."""
    p = sub.add_parser(
        "witness", parents=[common], help="run a witness (C2SP tlog-witness)"
    )
    wsub = p.add_subparsers(dest="witness_command", metavar="ACTION", required=True)
    p = wsub.add_parser(
        "keygen",
        parents=[common],
        help="create a witness key",
        description="Write a new Ed25519 witness key (cosignature/v1, mode 0600) to FILE and "
        "print its verifier key (signature type 0x04) as the last line.",
    )
    p.add_argument(
        "name", metavar="NAME", help="the witness's name, e.g. witness.example.org/w1"
    )
    p.add_argument("file", metavar="FILE", help="the new key file (never overwritten)")
    p.set_defaults(func=cmd_witness_keygen)

    p = wsub.add_parser(
        "serve",
        parents=[common],
        help="serve a witness over HTTP",
        description="Cosign the checkpoints of the given logs (C2SP tlog-witness: POST "
        "/add-checkpoint; GET /<sha256 of origin>/checkpoint). The state, one row per log, "
        "is kept in SQLite and never goes backwards.",
    )
    p.add_argument("--key", required=True, metavar="FILE", help="the witness key file")
    p.add_argument(
        "--log",
        required=True,
        action="append",
        metavar="VKEY",
        help="a log's verifier key (repeatable)",
    )
    p.add_argument(
        "--port", required=True, type=natural, metavar="P", help="the TCP port"
    )
    p.add_argument(
        "--host", default="127.0.0.1", help="the address to bind (default 127.0.0.1)"
    )
    p.add_argument(
        "--state",
        metavar="DB",
        help="the SQLite state file (default: FILE.state.sqlite3 beside the key)",
    )
    p.add_argument("--quiet", action="store_true", help="no access log")
    p.set_defaults(func=cmd_witness_serve)

    p = wsub.add_parser(
        "add",
        parents=[common],
        help="ask a witness to cosign this site's checkpoints",
        description="Configure a witness for this home's log: the sequencer submits each new "
        "checkpoint to it (C2SP tlog-witness) and publishes the cosigned checkpoint when "
        "TALLYLOG_WITNESS_QUORUM witnesses cosigned.",
    )
    p.add_argument("vkey", metavar="VKEY", help="the witness's verifier key (cosignature/v1)")
    p.add_argument("url", metavar="URL", help="its submission prefix, http(s)://host[:port][/prefix]")
    p.set_defaults(func=cmd_witness_add)

    p = wsub.add_parser(
        "list",
        parents=[common],
        help="list this site's witnesses",
        description="Each configured witness: name, URL, the size it last cosigned and how far "
        "behind the published checkpoint that is, when, and its last error.",
    )
    p.set_defaults(func=cmd_witness_list)

    p = wsub.add_parser(
        "remove",
        parents=[common],
        help="stop asking a witness",
        description="Remove the witness NAME from this home's log; checkpoints already "
        "cosigned keep its cosignature.",
    )
    p.add_argument("name", metavar="NAME", help="the witness's name (as `witness list` shows it)")
    p.set_defaults(func=cmd_witness_remove)

    log_parser = sub.choices["log"]  # registered by tallylog.cli.logcmds
    log_sub = next(
        a for a in log_parser._actions if isinstance(a, argparse._SubParsersAction)
    )
    p = log_sub.add_parser(
        "cosign",
        parents=[common],
        help="get the current checkpoint cosigned by witnesses",
        description="Submit the current checkpoint of the log in DIR to each witness (C2SP "
        "tlog-witness add-checkpoint, with a consistency proof); when at least N cosigned, "
        "rewrite DIR/checkpoint atomically with the cosignatures appended.",
    )
    p.add_argument("dir", metavar="DIR", help="the log directory")
    p.add_argument(
        "--key", required=True, metavar="KEYFILE", help="the log's signer key file"
    )
    p.add_argument(
        "--witness",
        required=True,
        action="append",
        metavar="VKEY=URL",
        help="a witness (repeatable)",
    )
    p.add_argument(
        "--quorum",
        type=natural,
        metavar="N",
        help="cosignatures needed (default: every witness)",
    )
    p.add_argument(
        "--timeout",
        type=positive,
        default=10,
        metavar="S",
        help="seconds per request (default 10)",
    )
    p.set_defaults(func=cmd_log_cosign)


def _witness_signer(path: str) -> Any:
    from tallylog.tlog.cosignature import CosignatureSigner

    try:
        skey = read_file(path, "the witness key file", 4096).decode("utf-8").strip()
        return CosignatureSigner(skey)
    except (ValueError, UnicodeDecodeError) as exc:
        raise CLIError(f"{path} is not a witness key: {exc}") from None


# --- witness keygen, serve -----------------------------------------------------------------


def cmd_witness_keygen(args: argparse.Namespace) -> int:
    from tallylog.home import write_private
    from tallylog.tlog.cosignature import generate_witness_key

    try:
        skey, vkey = generate_witness_key(args.name)
    except ValueError as exc:
        raise CLIError(f"bad witness name {args.name!r}: {exc}") from None
    try:
        write_private(Path(expand_path(args.file)), skey.encode() + b"\n")
    except FileExistsError:
        raise CLIError(f"{args.file} already exists; not overwriting a key") from None
    except OSError as exc:
        raise CLIError(f"couldn't write {args.file}: {exc.strerror}") from None
    print(f"wrote the witness key {args.name} to {args.file} (keep it secret)")
    print(vkey)
    return 0


def cmd_witness_serve(args: argparse.Namespace) -> int:
    import sqlite3

    from tallylog.witness.server import make_server
    from tallylog.witness.service import WitnessService
    from tallylog.witness.state import WitnessState

    signer = _witness_signer(args.key)
    logs = [read_verifier(v) for v in args.log]
    state_path = expand_path(args.state) if args.state else expand_path(args.key) + ".state.sqlite3"
    try:
        state = WitnessState(state_path)
    except (sqlite3.Error, OSError) as exc:
        raise CLIError(f"couldn't open the witness state {state_path}: {exc}") from None
    try:
        server = make_server(
            WitnessService.from_keys(signer, logs, state),
            args.host,
            args.port,
            quiet=args.quiet,
        )
    except OSError as exc:
        raise CLIError(
            f"couldn't listen on {args.host}:{args.port}: {exc.strerror}"
        ) from None
    print(
        f"witness {signer.name} on http://{args.host}:{server.server_port}/ for {', '.join(v.name for v in logs)}",
        flush=True,
    )
    print(signer.verifier_key, flush=True)
    try:
        server.serve_forever()
    finally:
        server.server_close()
    return 0


# --- witness add, list, remove (this home's log) -------------------------------------------


def cmd_witness_add(args: argparse.Namespace) -> int:
    setup_django(args)
    from tallylog.registry.entries.cosigning import WitnessConfigError, add_witness

    try:
        w = add_witness(args.vkey, args.url)
    except WitnessConfigError as exc:
        raise CLIError(str(exc)) from None
    print(f"witness {w.name} added at {w.url}; it is asked to cosign each new checkpoint")
    return 0


def cmd_witness_list(args: argparse.Namespace) -> int:
    setup_django(args)
    from tallylog.config import config
    from tallylog.registry.entries.models import LogState, Witness

    size = LogState.current().size
    rows = Witness.objects.behind(size)
    if not rows:
        print("no witness is configured (add one with `tallylog witness add VKEY URL`)")
        return 0
    print(f"log size {size}; quorum {config().witness_quorum} of {len(rows)}")
    for w, behind in rows:
        when = w.cosigned_at.strftime("%Y-%m-%d %H:%M:%S UTC") if w.cosigned_at else "never"
        print(f"{w.name}\t{w.url}\tcosigned size {w.cosigned_size} ({behind} behind), last {when}")
        print(f"  {w.vkey}")
        if w.last_error:
            print(f"  last error: {w.last_error}")
    return 0


def cmd_witness_remove(args: argparse.Namespace) -> int:
    setup_django(args)
    from tallylog.registry.entries.cosigning import WitnessConfigError, remove_witness

    try:
        remove_witness(args.name)
    except WitnessConfigError as exc:
        raise CLIError(str(exc)) from None
    print(f"witness {args.name} removed")
    return 0


# --- log cosign ----------------------------------------------------------------------------


def cmd_log_cosign(args: argparse.Namespace) -> int:
    from tallylog.tlog import client, storage
    from tallylog.tlog.errors import VerificationError
    from tallylog.tlog.witness import WitnessRequestFormatError, cosign, parse_witness

    signer = read_signer(args.key)
    witnesses = []
    for spec in args.witness:
        try:
            witnesses.append(parse_witness(spec))
        except ValueError as exc:
            raise CLIError(f"bad --witness {spec!r}: {exc}") from None
    if len({w.name for w in witnesses}) != len(witnesses):
        raise CLIError("a witness is given twice")
    quorum = quorum_of(args.quorum, len(witnesses))
    try:
        log = client.LogClient.open(expand_path(args.dir), signer.verifier)
    except (OSError, ValueError, VerificationError) as exc:
        raise CLIError(f"couldn't open the log in {args.dir}: {exc}") from None
    result = cosign(log.note, witnesses, log.reader, timeout=float(args.timeout))
    for w in witnesses:
        if w.name in result.cosignatures:
            print(f"witness {w.name}: cosigned size {log.size}")
        else:
            print(
                f"witness {w.name}: FAILED: {result.failures[w.name]}", file=sys.stderr
            )
    got = len(result.cosignatures)
    if got < quorum:
        raise CLIError(
            f"{got} of {len(witnesses)} witnesses cosigned size {log.size}, {quorum} needed; the checkpoint is left as it was"
        )
    try:
        new = result.cosigned_note()
    except WitnessRequestFormatError as exc:  # pragma: no cover (the note was verified)
        raise CLIError(str(exc)) from None
    store = storage.FileStore(expand_path(args.dir))
    if store.read(storage.CHECKPOINT_PATH) != log.note:
        raise CLIError(
            "the checkpoint changed while the witnesses were asked; run `log cosign` again"
        )
    try:
        store.write(storage.CHECKPOINT_PATH, new)
    except OSError as exc:
        raise CLIError(f"couldn't write the checkpoint in {args.dir}: {exc}") from None
    print(
        f"checkpoint of size {log.size} cosigned by {got} of {len(witnesses)} witnesses"
    )
    return 0
