"""What the public pages and the JSON API both show: campaigns by slug, the current
checkpoint, and an entry's inclusion proof against it.

Thin reads over the registry and the log (``tallylog.composition.get_log``); no domain
logic lives here.
"""

from __future__ import annotations

import base64
import hashlib
from dataclasses import dataclass

from django.http import Http404, HttpRequest

from tallylog.composition import get_log
from tallylog.registry.campaigns.models import Campaign
from tallylog.registry.declarations.regions import REGIONS
from tallylog.registry.entries.models import LogEntry

REGION_BY_CODE = {r.code: r for r in REGIONS}


def default_campaign() -> Campaign:
    """The first active declaration campaign (``three-withdrawals`` after ``tallylog init``)."""
    campaign = Campaign.objects.active().declarations().first()
    if campaign is None:
        raise Http404("no active declaration campaign: run `tallylog init`")
    return campaign


def campaign_or_404(slug: str | None) -> Campaign:
    """The declaration campaign ``slug``, or the default one when ``slug`` is None."""
    if slug is None:
        return default_campaign()
    campaign = Campaign.objects.declarations().filter(slug=slug).first()
    if campaign is None:
        raise Http404(f"no declaration campaign {slug!r}")
    return campaign


def region_name(code: str, language: str | None) -> str:
    """A region's name in ``language``; the code itself if it is not in the list."""
    region = REGION_BY_CODE.get(code)
    return region.name(language) if region else code


@dataclass(frozen=True)
class CheckpointInfo:
    """The latest published signed checkpoint (C2SP tlog-checkpoint in a signed note)."""

    text: str
    origin: str
    size: int
    root_b64: str


def current_checkpoint() -> CheckpointInfo | None:
    """The checkpoint the log serves at ``/log/checkpoint``, or None before the first.

    Only the note body's first three lines are read (origin, decimal tree size, base64
    root hash; C2SP tlog-checkpoint); the signature is the auditor's business.
    """
    note = get_log().checkpoint()
    return parse_checkpoint(note) if note is not None else None


def parse_checkpoint(note: bytes) -> CheckpointInfo:
    """The origin, size and root of a signed checkpoint note (signature not checked)."""
    text = note.decode("utf-8")
    lines = text.split("\n")
    if len(lines) < 3 or not lines[1].isdigit():
        raise AssertionError("parse_checkpoint: the published checkpoint is malformed")
    return CheckpointInfo(text=text, origin=lines[0], size=int(lines[1]), root_b64=lines[2])


def page_checkpoint(request: HttpRequest) -> CheckpointInfo | None:
    """The checkpoint a page shows and proves against: the current one, or the one a
    static export pinned (``tallylog.web.export``)."""
    marker = getattr(request, "tallylog_export", None)
    return marker.checkpoint if marker is not None else current_checkpoint()


@dataclass(frozen=True)
class EntryProof:
    """A sequenced entry and its RFC 6962 §2.1.1 inclusion proof in the tree of
    ``checkpoint.size`` leaves. ``leaf_hash`` is SHA-256(0x00 ‖ leaf) (RFC 6962 §2.1)."""

    index: int
    leaf: bytes
    leaf_hash: bytes
    proof: list[bytes]
    checkpoint: CheckpointInfo

    @property
    def proof_b64(self) -> list[str]:
        return [base64.b64encode(h).decode("ascii") for h in self.proof]

    @property
    def leaf_hash_b64(self) -> str:
        return base64.b64encode(self.leaf_hash).decode("ascii")


def entry_proof(entry: LogEntry | None, checkpoint: CheckpointInfo | None = None) -> EntryProof | None:
    """The inclusion proof of ``entry`` against ``checkpoint`` (default: the current one).

    None when the entry is not sequenced yet or the published checkpoint does not cover it
    (the sequencer commits the index before it publishes the checkpoint).
    """
    if entry is None or entry.log_index is None or entry.leaf is None:
        return None
    checkpoint = checkpoint or current_checkpoint()
    if checkpoint is None or entry.log_index >= checkpoint.size:
        return None
    leaf = bytes(entry.leaf)
    return EntryProof(
        index=entry.log_index,
        leaf=leaf,
        leaf_hash=hashlib.sha256(b"\x00" + leaf).digest(),
        proof=get_log().inclusion_proof(entry.log_index, checkpoint.size),
        checkpoint=checkpoint,
    )
