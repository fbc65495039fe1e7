"""Petition and newsletter commands (see tallylog/cli/__init__.py for the contract).

- ``tallylog newsletter send POST_ID``: mail a news post to the confirmed subscribers,
  each in their language; run it again after a crash to resume (nobody gets it twice).
- ``tallylog newsletter digest [--days N]``: mail the posts of the last N days.
- ``tallylog newsletter resume MAILING_ID`` / ``tallylog newsletter status``.
- ``tallylog newsletter purge`` / ``tallylog petitions purge``: delete sign-ups and
  signatures whose confirmation link expired unused (with their addresses).
- ``tallylog petitions export SLUG``: the counted signatures as CSV.
"""

from __future__ import annotations

import argparse
import sys
from contextlib import nullcontext
from typing import Any

from tallylog.cli import CLIError, setup_django


def register(sub: argparse._SubParsersAction, common: argparse.ArgumentParser) -> None:
    """Add this module's subcommands to ``sub``."""
    news = sub.add_parser("newsletter", parents=[common], help="mail news to the newsletter subscribers")
    news_sub = news.add_subparsers(dest="newsletter_command", metavar="ACTION", required=True)

    sending = argparse.ArgumentParser(add_help=False)
    sending.add_argument("--batch", type=int, default=200, metavar="N", help="messages per SMTP connection (default 200)")
    sending.add_argument(
        "--site-url", metavar="URL", help="base URL of links in the mail (default: $TALLYLOG_SITE_URL, which must then be set)"
    )
    sending.add_argument("--no-progress", action="store_true", help="no progress bar")

    send = news_sub.add_parser("send", parents=[common, sending], help="mail a post (resumes if it was mailed before)")
    send.add_argument("post_id", type=int, metavar="POST_ID")
    send.add_argument("--dry-run", action="store_true", help="say how many would receive it; send nothing")
    send.set_defaults(func=cmd_send)

    digest = news_sub.add_parser("digest", parents=[common, sending], help="mail a digest of recent posts")
    digest.add_argument("--days", type=int, default=7, help="posts of the last DAYS days (default 7)")
    digest.add_argument("--dry-run", action="store_true", help="say how many would receive it; send nothing")
    digest.set_defaults(func=cmd_digest)

    resume = news_sub.add_parser("resume", parents=[common, sending], help="resume an interrupted mailing")
    resume.add_argument("mailing_id", type=int, metavar="MAILING_ID")
    resume.set_defaults(func=cmd_resume)

    status = news_sub.add_parser("status", parents=[common], help="list mailings and their progress")
    status.set_defaults(func=cmd_status)

    purge = news_sub.add_parser("purge", parents=[common], help="delete sign-ups never confirmed in time")
    purge.set_defaults(func=cmd_newsletter_purge)

    petitions = sub.add_parser("petitions", parents=[common], help="petition signatures")
    pet_sub = petitions.add_subparsers(dest="petitions_command", metavar="ACTION", required=True)
    export = pet_sub.add_parser("export", parents=[common], help="the counted signatures of a petition as CSV")
    export.add_argument("slug", metavar="SLUG")
    export.add_argument("-o", "--output", metavar="FILE", help="write to FILE (default: standard output)")
    export.set_defaults(func=cmd_export)
    pet_purge = pet_sub.add_parser("purge", parents=[common], help="delete signatures never confirmed in time")
    pet_purge.set_defaults(func=cmd_petitions_purge)


def _base_url(args: argparse.Namespace) -> str:
    """The base URL of the links in the mail: ``--site-url``, else ``TALLYLOG_SITE_URL``;
    refused before anything is created or sent when neither is set (or good)."""
    from tallylog.config import site_url as parse_site_url
    from tallylog.registry.subscribers.emails import SiteURLMissing, site_url

    if args.site_url is not None:
        try:
            url: str = parse_site_url(args.site_url)
        except ValueError as exc:
            raise CLIError(f"--site-url {exc}, not {args.site_url!r}") from None
        if url:
            return url
    try:
        return site_url()
    except SiteURLMissing as exc:
        raise CLIError(f"{exc} Or pass --site-url URL.") from None


def _run(args: argparse.Namespace, mailing: Any, base_url: str) -> int:
    from tqdm import tqdm

    from tallylog.registry.subscribers.models import Delivery
    from tallylog.registry.subscribers.newsletter import SendReport, send_mailing

    if mailing.finished_at is not None:
        print(f"mailing {mailing.pk} finished on {mailing.finished_at:%Y-%m-%d %H:%M} UTC: nothing left to send")
        return 0
    if args.batch < 1:
        raise CLIError("--batch must be at least 1")
    pending = Delivery.objects.filter(mailing=mailing, state=Delivery.State.PENDING).count()
    bar = tqdm(total=pending, unit="msg", file=sys.stderr, disable=args.no_progress, desc=f"mailing {mailing.pk}")
    done = 0

    def progress(report: SendReport) -> None:
        nonlocal done
        now = report.sent + report.failed + report.skipped
        bar.update(now - done)
        done = now

    try:
        report = send_mailing(mailing, batch_size=args.batch, base_url=base_url, progress=progress)
    except Exception as exc:  # noqa: BLE001 — reported with what to do next
        bar.close()
        raise CLIError(
            f"couldn't finish mailing {mailing.pk}: {exc!r}; what was sent is recorded — "
            f"run `tallylog newsletter resume {mailing.pk}` to go on"
        ) from exc
    bar.close()
    print(
        f"mailing {mailing.pk}: sent {report.sent}, refused {report.failed}, "
        f"skipped {report.skipped} (nothing in their language), "
        f"interrupted earlier and not resent {report.uncertain}, left {report.remaining}"
    )
    return 0


def cmd_send(args: argparse.Namespace) -> int:
    setup_django(args)
    from tallylog.registry.news.models import Post
    from tallylog.registry.subscribers.models import Mailing, Subscriber
    from tallylog.registry.subscribers.newsletter import MailingError, mailing_for_post

    post = Post.objects.filter(pk=args.post_id).first()
    if post is None:
        raise CLIError(f"no news post with id {args.post_id}")
    if args.dry_run:
        root = post.translation_of or post
        existing = Mailing.objects.filter(post=root).first()
        if existing:
            print(f"post {root.pk} has mailing {existing.pk}: {existing.progress()}")
        else:
            print(f"would mail post {root.pk} to {Subscriber.objects.confirmed().count()} confirmed subscribers")
        return 0
    base_url = _base_url(args)
    try:
        mailing, created = mailing_for_post(post)
    except MailingError as exc:
        raise CLIError(str(exc)) from None
    if not created:
        print(f"post {mailing.post_id} was mailed before (mailing {mailing.pk}): resuming it", file=sys.stderr)
    return _run(args, mailing, base_url)


def cmd_digest(args: argparse.Namespace) -> int:
    setup_django(args)
    from tallylog.registry.subscribers.models import Subscriber
    from tallylog.registry.subscribers.newsletter import MailingError, mailing_for_digest

    if args.dry_run:
        print(f"would mail a digest of {args.days} days to {Subscriber.objects.confirmed().count()} confirmed subscribers")
        return 0
    base_url = _base_url(args)
    try:
        mailing = mailing_for_digest(args.days)
    except MailingError as exc:
        raise CLIError(str(exc)) from None
    return _run(args, mailing, base_url)


def cmd_resume(args: argparse.Namespace) -> int:
    setup_django(args)
    from tallylog.registry.subscribers.models import Mailing

    mailing = Mailing.objects.filter(pk=args.mailing_id).first()
    if mailing is None:
        raise CLIError(f"no mailing with id {args.mailing_id}")
    return _run(args, mailing, _base_url(args))


def cmd_status(args: argparse.Namespace) -> int:
    setup_django(args)
    from tallylog.registry.subscribers.models import Mailing

    for mailing in Mailing.objects.select_related("post").order_by("id"):
        counts = ", ".join(f"{state} {n}" for state, n in mailing.progress().items() if n)
        state = "finished" if mailing.finished_at else "unfinished"
        print(f"{mailing.pk}\t{mailing}\t{state}\t{mailing.recipients} recipients\t{counts}")
    return 0


def cmd_newsletter_purge(args: argparse.Namespace) -> int:
    setup_django(args)
    from tallylog.registry.subscribers.actions import purge_unconfirmed

    print(f"deleted {purge_unconfirmed()} unconfirmed sign-ups")
    return 0


def cmd_petitions_purge(args: argparse.Namespace) -> int:
    setup_django(args)
    from tallylog.registry.petitions.actions import purge_unconfirmed

    print(f"deleted {purge_unconfirmed()} unconfirmed signatures")
    return 0


def cmd_export(args: argparse.Namespace) -> int:
    setup_django(args)
    from tallylog.registry.campaigns.models import Campaign
    from tallylog.registry.petitions.actions import signatures_csv

    campaign = Campaign.objects.petitions().filter(slug=args.slug).first()
    if campaign is None:
        raise CLIError(f"no petition with slug {args.slug!r}")
    with open(args.output, "w", encoding="utf-8", newline="") if args.output else nullcontext(sys.stdout) as out:
        for line in signatures_csv(campaign):
            out.write(line)
    return 0
