"""Mail for the tests: the mailbox a REAL SMTP server on loopback (aiosmtpd) records into, its
messages' text and links; petitions. The fixtures (``mailbox``, ``petition``, ``open_petition``)
are in tests/conftest.py."""

from __future__ import annotations

import email
import email.policy
import logging
import re
import threading
from dataclasses import dataclass, field
from email.message import EmailMessage

from tallylog.registry.campaigns.models import Campaign
from tallylog.registry.petitions.models import Petition

logging.getLogger("mail.log").setLevel(logging.WARNING)  # aiosmtpd's per-command chatter


@dataclass
class Mailbox:
    """What the SMTP server accepted: (envelope recipients, parsed message) in order.

    Recipients starting with ``refuse`` are refused at RCPT (550) to test failures.
    """

    received: list[tuple[list[str], EmailMessage]] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)
    on_data: object = None  # optional callable(envelope) run before accepting, for failure injection

    async def handle_RCPT(self, server, session, envelope, address, rcpt_options):  # noqa: ANN001
        if address.startswith("refuse"):
            return "550 5.1.1 no such user"
        envelope.rcpt_tos.append(address)
        return "250 OK"

    async def handle_DATA(self, server, session, envelope):  # noqa: ANN001
        if self.on_data is not None:
            self.on_data(envelope)  # type: ignore[operator]
        message = email.message_from_bytes(envelope.original_content or envelope.content, policy=email.policy.default)
        with self.lock:
            self.received.append((list(envelope.rcpt_tos), message))  # type: ignore[arg-type]
        return "250 Message accepted"

    def to(self, address: str) -> list[EmailMessage]:
        with self.lock:
            return [m for rcpts, m in self.received if address in rcpts]

    def only_to(self, address: str) -> EmailMessage:
        messages = self.to(address)
        assert len(messages) == 1, f"{len(messages)} messages to {address}"
        return messages[0]

    def clear(self) -> None:
        with self.lock:
            self.received.clear()


def text_of(message: EmailMessage) -> str:
    part = message.get_body(preferencelist=("plain",))
    assert part is not None
    return part.get_content()


def link_in(message: EmailMessage, pattern: str) -> str:
    """The path of the first link in the plain text matching ``pattern`` (a regex on the path)."""
    match = re.search(r"https?://[^/\s]+(\S*?" + pattern + r"\S*)", text_of(message))
    assert match, f"no link matching {pattern!r} in:\n{text_of(message)}"
    return match.group(1)


def make_petition(slug: str = "free-them", *, confirm: bool = True, **fields: object) -> Campaign:
    campaign = Campaign.objects.create(
        slug=slug, kind=Campaign.Kind.PETITION,
        title_zh_hans="释放他们", title_zh_hant="釋放他們", title_en="Free them",
        text_en="Release the prisoners of conscience.", **fields,
    )
    Petition.objects.create(campaign=campaign, require_confirmation=confirm)
    return campaign
