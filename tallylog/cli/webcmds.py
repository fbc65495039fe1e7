"""``tallylog export-static DIR``: a static mirror of the log and the public pages.

See ``tallylog.web.export`` for the layout of DIR. The command needs the database (it
renders the pages), so it sets Django up from ``--home``.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from tallylog.cli import CLIError, setup_django


def register(sub: argparse._SubParsersAction, common: argparse.ArgumentParser) -> None:
    """Add ``export-static``."""
    p = sub.add_parser(
        "export-static",
        parents=[common],
        help="write a static mirror of the log and the public pages",
        description="Write into DIR (absent or empty) a copy of the log (checkpoint, tiles, "
        "day index) and the public pages in every language (home, transparency, the "
        "declarations list and each declaration's page), with relative links, for any "
        "static host. Check it with: tallylog verify DIR/log --key VKEY",
    )
    p.add_argument("dir", metavar="DIR", help="the output directory (absent or empty)")
    p.add_argument("-q", "--quiet", action="store_true", help="print nothing but errors")
    p.set_defaults(func=cmd_export_static)


def cmd_export_static(args: argparse.Namespace) -> int:
    setup_django(args)
    from tallylog.composition import SigningKeyMissing
    from tallylog.web.export import ExportError, export_static

    def progress(url: str) -> None:
        if not args.quiet and url.count("/") <= 2:
            print(f"exported {url}", file=sys.stderr)

    try:
        report = export_static(Path(args.dir), progress=progress)
    except (ExportError, SigningKeyMissing) as exc:
        raise CLIError(str(exc)) from None
    except OSError as exc:
        raise CLIError(f"couldn't write {args.dir}: {exc}") from None
    if not args.quiet:
        print(f"{report.pages} pages and {report.log_files} log files ({report.bytes:,} bytes) in {args.dir}")
    return 0
