"""The ``tallylog`` command.

Each module in ``COMMAND_MODULES`` contributes subcommands through
``register(subparsers, common)``, where ``common`` is a parent parser holding the options
every command takes (``--home``). A command's handler receives the parsed namespace and
returns an exit status; it reports failure by raising ``CLIError`` (message on standard
error, non-zero exit), never by printing a traceback.

Commands are thin wrappers over library functions; those that need the database call
``setup_django(args)`` first, and the others (keygen, verify, prove, …) never load Django.
"""

from __future__ import annotations

import argparse
import importlib
import os
import sys
from collections.abc import Sequence

COMMAND_MODULES = (
    "tallylog.cli.logcmds",  # keygen, log append
    "tallylog.cli.auditcmds",  # verify, prove, recount, check-receipt, verify-proof
    "tallylog.cli.sitecmds",  # init, serve, sequence, demo
    "tallylog.cli.webcmds",  # export-static
    "tallylog.cli.volunteercmds",  # centre and staff management
    "tallylog.cli.campaigncmds",  # petitions, news, newsletter sending
    "tallylog.cli.importcmds",  # bulk import
    "tallylog.cli.mailcmds",  # mail-intake
    "tallylog.cli.witnesscmds",  # witness keygen/serve, log cosign (after logcmds)
    "tallylog.cli.opscmds",  # status, backup, restore
)


class CLIError(Exception):
    """A failure to report to the user: message on standard error, exit status ``code``."""

    def __init__(self, message: str, code: int = 1) -> None:
        super().__init__(message)
        self.code = code


def setup_django(args: argparse.Namespace) -> None:
    """Point Django at ``--home`` (or ``$TALLYLOG_HOME``) and set it up. Idempotent.

    Raises ``CLIError`` with the system check's ID and message when a setting has a bad
    value (``tallylog.checks.check_configuration``), before anything else is done."""
    from tallylog.home import ENV_VAR, Home

    home = getattr(args, "home", None)
    if home:
        os.environ[ENV_VAR] = str(Home.from_env(home).path)
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "tallylog.settings")
    import django

    django.setup()
    from tallylog.checks import check_configuration

    if errors := check_configuration():
        raise CLIError("; ".join(f"{m.id}: {m.msg}" for m in errors))


def build_parser() -> argparse.ArgumentParser:
    common = argparse.ArgumentParser(add_help=False)
    common.add_argument(
        "--home",
        metavar="DIR",
        help="where the database, the signing key and the log live (default: $TALLYLOG_HOME or ./var)",
    )
    parser = argparse.ArgumentParser(
        prog="tallylog",
        description="A registry for mass public declarations whose tally anyone can verify.",
    )
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)
    for name in COMMAND_MODULES:
        importlib.import_module(name).register(sub, common)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    from tallylog.home import private_umask

    old_umask = private_umask()  # the home, and all the command creates in it, private
    try:
        return run(build_parser(), argv)
    finally:
        os.umask(old_umask)  # for callers in the same process (tests)


def run(parser: argparse.ArgumentParser, argv: Sequence[str] | None) -> int:
    """Parse ``argv`` with ``parser`` and run the command's handler: its exit status, or 1
    (the error's code) with ``PROG COMMAND: message`` on standard error for a ``CLIError``.
    ``tallylog`` and ``tallylog-audit`` (``tallylog.cli.audit``) both run through it."""
    args = parser.parse_args(argv)
    try:
        return int(args.func(args) or 0)
    except CLIError as exc:
        print(f"{parser.prog} {args.command}: {exc}", file=sys.stderr)
        return exc.code
    except KeyboardInterrupt:
        print(f"{parser.prog} {args.command}: interrupted", file=sys.stderr)
        return 130
    except BrokenPipeError:
        return 1


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
