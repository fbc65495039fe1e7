"""``tallylog import``: bulk import of declarations (see docs/import.md)."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from tallylog.cli import CLIError, setup_django

# Exit status when the import finished but some rows were rejected (listed in the report).
EXIT_REJECTED = 3


def register(sub: argparse._SubParsersAction, common: argparse.ArgumentParser) -> None:
    """Add this module's subcommands to ``sub``."""
    p = sub.add_parser(
        "import",
        parents=[common],
        help="import declarations from a JSON Lines or CSV file (resumable)",
        description=(
            "Import declarations from a JSON Lines or CSV file into a campaign, streaming, "
            "in batches. Running it again on the same file resumes after the last committed "
            "line. Bad rows are written to the report with their line numbers and reasons "
            f"while the good ones are imported; the exit status is then {EXIT_REJECTED}."
        ),
    )
    p.add_argument("file", metavar="FILE", type=Path, help="the file to import")
    p.add_argument("--campaign", required=True, metavar="SLUG", help="the campaign to import into")
    p.add_argument(
        "--format", choices=("jsonl", "csv"), help="the file's format (default: from its extension)"
    )
    p.add_argument(
        "--report",
        metavar="FILE",
        type=Path,
        help="where to write the rejected rows (default: FILE.report.csv)",
    )
    p.add_argument(
        "--receipts",
        metavar="FILE",
        type=Path,
        help="give every row a receipt code and write them to this file (mode 0600); "
        "without it imported declarations get no receipt code",
    )
    p.add_argument("--batch", type=int, default=10_000, help="rows per transaction (default 10000)")
    p.add_argument(
        "--jobs",
        type=int,
        default=1,
        help="worker processes that parse and validate rows while this one writes "
        "(0: this process does it all; default 1)",
    )
    p.add_argument(
        "--sequence",
        action="store_true",
        help="sequence the rows into the log as they are imported, in one pass per batch, "
        "when no sequencer is running (otherwise they are queued for the running one)",
    )
    p.set_defaults(func=cmd_import)


def cmd_import(args: argparse.Namespace) -> int:
    from tallylog.registry.imports.formats import guess_format

    path: Path = args.file
    if not path.is_file():
        raise CLIError(f"{path}: no such file")
    fmt = args.format or guess_format(path)
    if fmt is None:
        raise CLIError(f"{path}: cannot tell the format from the name; give --format jsonl or --format csv")
    if args.batch < 1:
        raise CLIError("--batch must be at least 1")
    if args.jobs < 0:
        raise CLIError("--jobs must be at least 0")
    report = args.report or path.with_name(path.name + ".report.csv")
    if args.receipts is not None and args.receipts.resolve() in (path.resolve(), report.resolve()):
        raise CLIError("--receipts must name a file of its own")

    setup_django(args)
    from django.utils import translation

    from tallylog.composition import SigningKeyMissing, get_log
    from tallylog.registry.campaigns.models import Campaign
    from tallylog.registry.imports.formats import ImportFileError
    from tallylog.registry.imports.importer import ImportConflict, import_file
    from tallylog.registry.imports.validation import CampaignClosed
    from tallylog.tlog import LogInconsistentError

    campaign = Campaign.objects.filter(slug=args.campaign).first()
    if campaign is None:
        raise CLIError(f"no campaign {args.campaign!r}")
    log = None
    if args.sequence:
        try:
            log = get_log()
        except SigningKeyMissing as exc:
            raise CLIError(str(exc)) from None
    bar = _progress_bar(path.name)
    try:
        with translation.override("en"):
            result = import_file(
                campaign,
                path,
                fmt=fmt,
                report_path=report,
                receipts_path=args.receipts,
                batch_size=args.batch,
                jobs=args.jobs,
                progress=bar.advance if bar else None,
                log=log,
            )
    except (ImportFileError, CampaignClosed, ImportConflict) as exc:
        raise CLIError(f"{path}: {exc}") from None
    except LogInconsistentError as exc:
        raise CLIError(f"the log disagrees with the database, nothing sequenced: {exc}") from None
    except OSError as exc:
        raise CLIError(f"couldn't import {path}: {exc}") from None
    finally:
        if bar:
            bar.close()

    run = result.run
    if result.already_done:
        print(f"{path}: already imported into {campaign.slug} ({run.imported} rows, {run.rejected} rejected)")
        return EXIT_REJECTED if run.rejected else 0
    resumed = f", resumed after line {result.skipped_lines}" if result.skipped_lines else ""
    print(f"{path}: imported {result.imported} declarations into {campaign.slug}{resumed}")
    if args.receipts is not None and result.imported:
        print(f"receipt codes written to {args.receipts} (keep it safe; give each code to its declarant)")
    if args.sequence and result.direct:
        print(f"sequenced {result.sequenced} entries into the log")
    elif args.sequence:
        print("a sequencer is running: it logs the imported entries")
    if run.rejected:
        print(f"{run.rejected} rows rejected, listed in {report}", file=sys.stderr)
        return EXIT_REJECTED
    return 0


class _Bar:
    """A tqdm progress bar in lines of the file (only on a terminal)."""

    def __init__(self, name: str) -> None:
        from tqdm import tqdm

        self._bar = tqdm(total=None, unit=" lines", unit_scale=True, desc=name)

    def advance(self, lines: int, total: int) -> None:
        if self._bar.total != total:
            self._bar.total = total
        self._bar.update(lines)

    def close(self) -> None:
        self._bar.close()


def _progress_bar(name: str) -> _Bar | None:
    return _Bar(name) if sys.stderr.isatty() else None
