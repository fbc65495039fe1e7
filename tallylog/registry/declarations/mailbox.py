"""The email intake's mailbox: messages in by IMAP, replies out by SMTP (docs/email-intake.md).

``read_mailbox`` makes one pass over the mailbox ``TALLYLOG_INTAKE_IMAP_URL`` names. For
each message, oldest first, one straight line, each step safe to crash after:

1. fetch it (``BODY.PEEK``: the mailbox is left as it was);
2. ``answer_mail``: the declaration is saved, committed, or nothing is. A crash here or
   just after leaves the message in the mailbox; the next pass reads it again, finds the
   same declaration through its receipt code, and replies with the same code;
3. send the reply through Django's mail (the ``EMAIL_*`` settings). A reply that cannot be
   sent stops the pass and keeps the message (``MailboxError``): nothing is lost, and the
   next pass tries again; only a relay refusing the address for good (5xx) lets the
   message go unanswered. A crash after the reply went out sends it once more next time;
4. mark the message ``\\Deleted`` and expunge it (``UID EXPUNGE`` where the server has
   UIDPLUS, RFC 4315), so that the mailbox keeps no sender address longer than it must.

A message that cannot be answered at all (``answer_mail`` raises: a database down, a bug)
stays in the mailbox and the pass goes on with the others, then raises ``MailboxError``
with the count. One reader per mailbox: two would answer a message twice (never record it twice:
``answer_mail``). Nothing here logs or reports an address: the report is counts.
"""

from __future__ import annotations

import imaplib
import logging
import re
import smtplib
import ssl
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

from django.core.mail import get_connection
from django.db import transaction

from tallylog.config import ImapUrl
from tallylog.registry.campaigns.models import Campaign
from tallylog.registry.declarations.mailintake import answer_mail

MAX_MESSAGE_BYTES = 1 << 20  # a bigger message is answered from its header alone
TIMEOUT_SECONDS = 60.0

logger = logging.getLogger("tallylog.mailin")

_SIZE = re.compile(rb"RFC822\.SIZE (\d+)")


class MailboxError(Exception):
    """A pass could not go on: "couldn't <step>: <cause>" (never an address). What was
    done before is kept (``report``) and the message it stopped at stays in the mailbox."""

    def __init__(self, message: str, report: PassReport) -> None:
        super().__init__(message)
        self.report = report


@dataclass
class PassReport:
    """What one pass did: messages by ``Outcome``, and how many it left in the mailbox."""

    held: int = 0
    again: int = 0
    refused: int = 0
    ignored: int = 0
    unreachable: int = 0  # answered, but the relay refused the reply's address for good
    failed: int = 0  # could not be answered (``read_mailbox`` raises): left in the mailbox
    left: int = 0

    @property
    def answered(self) -> int:
        """Messages dealt with and deleted."""
        return self.held + self.again + self.refused + self.ignored + self.unreachable

    def __str__(self) -> str:
        return (
            f"{self.held} held for review, {self.again} answered again, {self.refused} refused, "
            f"{self.ignored} deleted unanswered, {self.unreachable} whose reply address was refused, "
            f"{self.left} left in the mailbox"
            + (f" ({self.failed} of them could not be answered)" if self.failed else "")
        )


def connect(url: ImapUrl, timeout: float = TIMEOUT_SECONDS, *, readonly: bool = False) -> imaplib.IMAP4:
    """A logged-in IMAP connection to ``url``'s server, its mailbox selected read-write
    (``readonly``: examined, RFC 3501 §6.3.2).
    Raises ``imaplib.IMAP4.error`` or ``OSError`` (``ssl.SSLError``: a certificate the
    system does not trust)."""
    imap: imaplib.IMAP4
    if url.tls:
        imap = imaplib.IMAP4_SSL(url.host, url.port, ssl_context=ssl.create_default_context(), timeout=timeout)
    else:
        imap = imaplib.IMAP4(url.host, url.port, timeout=timeout)
    try:
        imap.login(url.user, url.password)
        status, detail = imap.select(_quoted(url.mailbox), readonly=readonly)
        if status != "OK":
            raise imaplib.IMAP4.error(f"no mailbox {url.mailbox!r}: {_text(detail)}")
    except BaseException:
        imap.shutdown()
        raise
    return imap


def read_mailbox(
    url: ImapUrl, campaign: Campaign, *, timeout: float = TIMEOUT_SECONDS, dry_run: bool = False
) -> PassReport:
    """One pass over the mailbox (module docstring); what it did. Raises ``MailboxError``
    when the server or the reply's SMTP relay fails, with what was done before.

    ``dry_run``: what it would do, with the mailbox examined read-only, each message's
    declaration rolled back, no reply sent and no message deleted."""
    report = PassReport()
    failure = ""
    with _step("read the mailbox", report):
        imap = connect(url, timeout, readonly=dry_run)
    try:
        with _step("list the messages", report):
            uids = _first(_ok(imap.uid("SEARCH", "UNDELETED"))).decode("ascii").split()
            uidplus = b"UIDPLUS" in _first(_ok(imap.capability())).upper().split()
        report.left = len(uids)
        for uid in uids:
            with _step("fetch a message", report):
                size = _size(_ok(imap.uid("FETCH", uid, "(RFC822.SIZE)")))
                too_big = size > MAX_MESSAGE_BYTES
                raw = _literal(_ok(imap.uid("FETCH", uid, "(BODY.PEEK[HEADER])" if too_big else "(BODY.PEEK[])")))
            if raw is None:  # expunged meanwhile by another client
                report.left -= 1
                continue
            try:
                with transaction.atomic():
                    answer = answer_mail(campaign, raw, too_big=too_big)
                    transaction.set_rollback(dry_run)
            except Exception as exc:  # noqa: BLE001 -- counted and reported; the message stays
                # One message that cannot be answered (a database down, a bug) must not
                # hold up the others: it stays for the next pass and the pass reports it.
                # Not str(exc): it could quote the message.
                report.failed += 1
                failure = type(exc).__name__
                logger.warning("mail intake: couldn't answer a message: %s", failure)
                continue
            outcome = answer.outcome
            if dry_run:
                setattr(report, outcome, getattr(report, outcome) + 1)
                continue
            if answer.reply is not None:
                # A relay that stops answering must not stop the intake: its own timeout.
                answer.reply.connection = get_connection(fail_silently=False, timeout=timeout)
                try:
                    answer.reply.send(fail_silently=False)
                except smtplib.SMTPRecipientsRefused as exc:
                    # Refused for good (5xx): no reply will ever reach this sender; the
                    # message goes (a held declaration stays for the moderator). For now
                    # (4xx): kept for the next pass. Not str(exc): it names the address.
                    if not all(code >= 500 for code, _ in exc.recipients.values()):
                        raise MailboxError("couldn't send a reply: the relay refused its address for now", report) from None
                    outcome = "unreachable"
                except (smtplib.SMTPException, OSError) as exc:
                    raise MailboxError(f"couldn't send a reply: {type(exc).__name__}", report) from None
            with _step("delete a message", report):
                _ok(imap.uid("STORE", uid, "+FLAGS.SILENT", r"(\Deleted)"))
                _ok(imap.uid("EXPUNGE", uid) if uidplus else imap.expunge())
            setattr(report, outcome, getattr(report, outcome) + 1)
            report.left -= 1
            logger.info("mail intake: a message %s", outcome)
    finally:
        try:
            imap.logout()
        except (imaplib.IMAP4.error, OSError):
            pass
    if report.failed:
        raise MailboxError(f"couldn't answer {report.failed} message(s), left in the mailbox: {failure}", report)
    return report


@contextmanager
def _step(name: str, report: PassReport) -> Iterator[None]:
    try:
        yield
    except (imaplib.IMAP4.error, OSError) as exc:
        raise MailboxError(f"couldn't {name}: {exc or type(exc).__name__}", report) from None


def _ok(response: tuple[str, list[Any]]) -> list[Any]:
    """The data of an IMAP response whose status is OK."""
    status, data = response
    if status != "OK":
        raise imaplib.IMAP4.error(_text(data))
    return data


def _first(data: list[Any]) -> bytes:
    return data[0] if data and isinstance(data[0], bytes) else b""


def _size(data: list[Any]) -> int:
    match = _SIZE.search(b" ".join(d for d in data if isinstance(d, bytes)))
    return int(match[1]) if match else 0


def _literal(data: list[Any]) -> bytes | None:
    """The message bytes of a FETCH response (imaplib gives a literal as a pair)."""
    for item in data:
        if isinstance(item, tuple) and len(item) == 2 and isinstance(item[1], bytes):
            return item[1]
    return None


def _quoted(mailbox: str) -> str:
    """``mailbox`` as an IMAP quoted string (RFC 3501 §4.3)."""
    return '"' + mailbox.replace("\\", "\\\\").replace('"', '\\"') + '"'


def _text(data: object) -> str:
    if isinstance(data, list):
        return " ".join(_text(d) for d in data)
    return data.decode("utf-8", "replace") if isinstance(data, bytes) else str(data)
