"""``tallylog-audit``: the auditor's commands and nothing else — ``verify``, ``prove``,
``recount``, ``check-receipt`` and ``verify-proof``, the same as ``tallylog verify`` and
the others (``tallylog.cli.auditcmds``).

It is the console script of the auditor's wheel that the site builds and serves under
``/log/tools/`` (``tallylog.web.tools``): ``tallylog.tlog``, ``tallylog.leaf`` and the
modules this one imports, with ``cryptography`` as the only dependency. So it never loads
Django, nor any module of ours that the wheel does not hold; tests/cli/test_audit_tool.py
installs that wheel in a fresh virtual environment and runs every command against a
served log. The full package installs it too.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence

from tallylog.cli import auditcmds, run


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="tallylog-audit",
        description="Check a tallylog transparency log from its site or any mirror: the signed "
        "checkpoint, every tile, the tally, your own entry, or a proof you kept.",
    )
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)
    auditcmds.register(sub, argparse.ArgumentParser(add_help=False))
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    return run(build_parser(), argv)


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
