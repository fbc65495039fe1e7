"""Log entry actions: enqueueing an entry for the sequencer.

``enqueue_entry`` is the one way anything enters the log: ``declarations.actions.publish``
calls it for declarations, petitions for signatures; ``new_entry`` builds the same entry
unsaved, for ``submit_declaration``'s group commit. The sequencer
(``tallylog.registry.entries.sequencer``) later adds the ``day``, encodes the leaf and
assigns the index.
"""

from __future__ import annotations

from typing import Any

from tallylog import leaf
from tallylog.registry.campaigns.models import Campaign
from tallylog.registry.entries.models import LogEntry

# Any valid day: enqueue checks the leaf fields by encoding them, before the real day is known.
_PROBE_DAY = "2000-01-01"


def enqueue_entry(
    campaign: Campaign,
    *,
    kind: str,
    channel: str,
    commit: str,
    tag: str,
    orgs: list[str] | None = None,
    tag_salt: str | None = None,
) -> LogEntry:
    """Create the ``LogEntry`` of a published item; the sequencer will log it.

    The fields are those of the leaf (ARCHITECTURE.md, "The log entry") except ``day``:
    ``kind`` (``declaration`` or ``signature``), ``channel``, ``commit`` and ``tag`` (64
    lowercase hex digits each), ``tag_salt`` (32; None only for an item made before leaf
    v2) and, for declarations, the organisation codes. Raises
    ``tallylog.leaf.LeafError`` (a ``ValueError``) when they would not make a valid leaf.
    Call it inside the transaction that publishes the item.
    """
    entry = new_entry(campaign, kind=kind, channel=channel, commit=commit, tag=tag, orgs=orgs, tag_salt=tag_salt)
    entry.save()
    return entry


def new_entry(
    campaign: Campaign,
    *,
    kind: str,
    channel: str,
    commit: str,
    tag: str,
    orgs: list[str] | None = None,
    tag_salt: str | None = None,
) -> LogEntry:
    """The unsaved ``LogEntry`` that ``enqueue_entry`` would create, checked the same way.

    For writers that save many rows in one statement (``declarations.committer``): save it
    in the transaction that publishes the item.
    """
    body: dict[str, Any] = {
        "kind": kind,
        "campaign": campaign.slug,
        "channel": channel,
        "commit": commit,
        "tag": tag,
    }
    if orgs is not None:
        body["orgs"] = sorted(orgs)
    if tag_salt is not None:
        body["tag_salt"] = tag_salt
    leaf.encode_leaf(day=_PROBE_DAY, **body)
    return LogEntry(campaign=campaign, kind=kind, channel=channel, body=body)
