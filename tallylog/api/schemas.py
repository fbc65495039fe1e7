"""Request and response bodies of the JSON API (they make its OpenAPI schema)."""

from __future__ import annotations

import datetime
from typing import Literal

from ninja import Schema
from pydantic import ConfigDict, Field


class WitnessOut(Schema):
    name: str = Field(description="the witness's name")
    verifier_key: str = Field(description="its cosignature/v1 verifier key: pass it to `tallylog verify --witness`")
    cosigned_size: int = Field(description="the tree size it last cosigned")
    behind: int = Field(description="entries between that size and the published checkpoint's")
    cosigned_at: datetime.datetime | None = Field(description="when it last cosigned, or null")
    on_checkpoint: bool = Field(description="its valid cosignature is on the published checkpoint")
    last_error: str = Field(description="why the last attempt failed, or empty")


class LogOut(Schema):
    origin: str = Field(description="the checkpoint's origin line")
    verifier_key: str = Field(description="C2SP signed-note verifier key: pass it to `tallylog verify --key`")
    size: int = Field(description="tree size of the latest published checkpoint")
    checkpoint: str | None = Field(
        description="the latest checkpoint note, signed, with the witnesses' cosignature lines once they cosigned; null before the first"
    )
    witness_quorum: int = Field(description="cosignatures the log waits for before it publishes the cosigned checkpoint")
    witnesses: list[WitnessOut] = Field(description="the witnesses asked to cosign each checkpoint (C2SP tlog-witness)")


class OrganisationOut(Schema):
    code: str
    name: dict[str, str] = Field(description="by language: zh-hans, zh-hant, en")


class CampaignOut(Schema):
    slug: str
    kind: str = Field(description="declaration or petition")
    policy: str = Field(description="auto (published at once) or review (a moderator publishes)")
    is_active: bool
    title: dict[str, str]
    text: dict[str, str]
    organisations: list[OrganisationOut]
    target: int | None
    closes_at: datetime.datetime | None


class DayCount(Schema):
    day: datetime.date
    count: int


class MilestoneOut(Schema):
    threshold: int
    reached_at: datetime.datetime
    tree_size: int
    checkpoint: str = Field(description="the signed checkpoint that proves the milestone")


class TallyOut(Schema):
    campaign: str
    total: int
    by_org: dict[str, int]
    by_channel: dict[str, int]
    today: int = Field(description="entries sequenced today (UTC)")
    this_week: int = Field(description="entries sequenced in the last seven UTC days, today included")
    by_day: list[DayCount]
    milestones: list[MilestoneOut]


class DeclarationIn(Schema):
    model_config = ConfigDict(extra="forbid")

    alias: str = Field(max_length=1000, description="any name the declarant chooses; public")
    orgs: list[str] = Field(max_length=32, description="organisation codes, at least one")
    statement: str = Field("", max_length=20000, description="optional public statement (the registry bounds its length)")
    region: str = Field("", max_length=100, description="optional region code")


class SubmittedOut(Schema):
    id: None = Field(None, description="always null: the database id follows the order of submission and is never public")
    receipt: str = Field(description="the receipt code: shown once, never stored in clear, never shown again")
    status: str = Field(description="published or pending (review)")
    campaign: str
    index: int | None = Field(description="log index; null until sequenced")


class DeclarationOut(Schema):
    id: int | None = Field(
        description="the old database id, for declarations made before issue 15 only (their "
        "`/declarations/{id}` URL still answers); null for newer ones: `index` is the public id"
    )
    campaign: str
    alias: str
    statement: str
    region: str
    orgs: list[str]
    channel: str
    day: datetime.date | None = Field(description="UTC day it entered the log")
    index: int | None = Field(description="log index; null until sequenced")
    redacted: bool = Field(description="content removed; the entry stays in the log")
    redacted_by: Literal["declarant", "moderator"] | None = Field(
        description="who removed the content (the declarant with their receipt code, or a moderator); null if not removed"
    )
    redaction_reason: Literal["personal_data", "abuse", "duplicate", "legal_request", "other"] | None = Field(
        description="a moderator's published reason category; null otherwise"
    )
    leaf: str | None = Field(description="the log entry (canonical JSON), null until sequenced")
    salt: str | None = Field(description="hex salt of the leaf's commit; null once redacted")


class DeclarationPage(Schema):
    items: list[DeclarationOut]
    next_before: int | None = Field(description="pass as ?before= for the next (older) page; null at the end")


class ReceiptIn(Schema):
    model_config = ConfigDict(extra="forbid")

    code: str = Field(max_length=100)


class ReceiptOut(Schema):
    id: int | None = Field(description="the old database id, for declarations made before issue 15 only; else null")
    campaign: str
    status: str = Field(description="pending, published or rejected")
    redacted: bool
    redacted_by: Literal["declarant", "moderator"] | None
    redaction_reason: Literal["personal_data", "abuse", "duplicate", "legal_request", "other"] | None
    index: int | None = Field(description="log index; null until sequenced")
    next_batch_at: datetime.datetime | None = Field(
        description="published, not yet logged: when the next batch is published (UTC, rounded up to the "
        "minute; TALLYLOG_PUBLISH_INTERVAL); null otherwise"
    )
    leaf: str | None
    leaf_hash: str | None = Field(description="base64 SHA-256(0x00 ‖ leaf) (RFC 6962 §2.1)")
    inclusion_proof: list[str] = Field(description="base64 hashes, RFC 6962 §2.1.1, against `checkpoint`")
    tree_size: int | None
    checkpoint: str | None
