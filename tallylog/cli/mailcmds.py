"""``tallylog mail-intake``: declarations by email (see tallylog/cli/__init__.py for the contract).

One pass over the mailbox ``TALLYLOG_INTAKE_IMAP_URL`` names, or with ``--every SECONDS``
a pass every SECONDS until stopped (docs/email-intake.md). The work is
``tallylog.registry.declarations.mailbox.read_mailbox``.
"""

from __future__ import annotations

import argparse
import re
import sys
import time

from tallylog.cli import CLIError, setup_django

_ADDRESS = re.compile(r"\S+@\S+")


def register(sub: argparse._SubParsersAction, common: argparse.ArgumentParser) -> None:
    """Add this module's subcommands to ``sub``."""
    p = sub.add_parser(
        "mail-intake", parents=[common], help="read declarations from the intake mailbox, held for review, and reply"
    )
    p.add_argument("--campaign", metavar="SLUG", default="three-withdrawals", help="the campaign they declare for "
                   "(default three-withdrawals)")
    p.add_argument("--every", type=float, metavar="SECONDS", help="read the mailbox every SECONDS until stopped "
                   "(default: once)")
    p.add_argument("--dry-run", action="store_true", help="say what a pass would do; save, send and delete nothing")
    p.set_defaults(func=cmd_mail_intake)


def cmd_mail_intake(args: argparse.Namespace) -> int:
    setup_django(args)
    from django.db import close_old_connections

    from tallylog.config import config
    from tallylog.registry.campaigns.models import Campaign
    from tallylog.registry.declarations.mailbox import MailboxError, read_mailbox

    url = config().intake_imap_url
    if url is None:
        raise CLIError("TALLYLOG_INTAKE_IMAP_URL is not set: which mailbox to read (docs/email-intake.md)")
    if args.every is not None and not 0 < args.every <= 86400:
        raise CLIError("--every must be a number of seconds in (0, 86400]")
    if args.every is not None and args.dry_run:
        raise CLIError("--dry-run makes one pass: leave out --every")
    campaign = Campaign.objects.declarations().filter(slug=args.campaign).first()
    if campaign is None:
        raise CLIError(f"no declaration campaign {args.campaign!r}")
    while True:
        close_old_connections()
        try:
            report = read_mailbox(url, campaign, dry_run=args.dry_run)
        except MailboxError as exc:
            message = f"{_ADDRESS.sub('[address]', str(exc))} ({exc.report})"
            if args.every is None:
                raise CLIError(message) from None
            print(f"tallylog mail-intake: {message}; trying again in {args.every:g} s", file=sys.stderr, flush=True)
        else:
            if args.dry_run:
                print(f"mail intake, dry run (nothing saved, sent or deleted): {report}", flush=True)
            elif args.every is None or report.answered:
                print(f"mail intake: {report}", flush=True)
        if args.every is None:
            return 0
        time.sleep(args.every)
