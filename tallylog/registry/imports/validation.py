"""Validation of imported rows, by the registry's own rules.

The rules are those of ``submit_declaration`` (``declarations.validation.validate_declaration``:
normalisation, alias/statement/region/date/channel checks, the campaign's organisations);
this module applies them to millions of rows without a database query per row, and adds
one default: an imported row's channel is ``import``.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from tallylog.registry.campaigns.models import Campaign
from tallylog.registry.declarations.models import Channel
from tallylog.registry.declarations.validation import DeclarationInvalid, validate_declaration

# The default channel as a plain string (what validate_declaration returns for it anyway).
_IMPORT = Channel.IMPORT.value


class CampaignClosed(ValueError):
    """The campaign takes no declarations (a petition, inactive or closed)."""


class RowInvalid(ValueError):
    """A row failed validation; ``errors`` maps field names to messages."""

    def __init__(self, errors: dict[str, list[str]]) -> None:
        self.errors = errors
        super().__init__("; ".join(f"{k}: {' '.join(v)}" for k, v in errors.items()))


@dataclass(frozen=True)
class CampaignRules:
    """The validation rules of one campaign, ready to apply to many rows."""

    campaign: Campaign
    known_orgs: frozenset[str]

    @classmethod
    def of(cls, campaign: Campaign) -> CampaignRules:
        """The rules of ``campaign``; raises ``CampaignClosed`` if it takes no declarations."""
        codes = frozenset(campaign.organisations.values_list("code", flat=True))
        if not codes:
            raise CampaignClosed(f"the campaign {campaign.slug} has no organisations")
        rules = cls(campaign, codes)
        try:  # a probe row, valid in any open declaration campaign
            rules.clean({"alias": "probe", "orgs": sorted(codes)[:1]})
        except RowInvalid as exc:
            if "campaign" in exc.errors:
                raise CampaignClosed(" ".join(exc.errors["campaign"])) from None
            raise AssertionError(f"CampaignRules.of: the probe row failed: {exc}") from None
        return rules

    def clean(self, fields: dict[str, Any]) -> dict[str, Any]:
        """The normalised fields of one row (``alias``, ``orgs``, ``statement``, ``region``,
        ``channel``, ``declared_on``), or ``RowInvalid`` listing every bad one."""
        try:
            return validate_declaration(
                self.campaign,
                alias=fields.get("alias", ""),
                orgs=fields.get("orgs", ()),
                statement=fields.get("statement", ""),
                region=fields.get("region", ""),
                channel=fields.get("channel") or _IMPORT,
                declared_on=fields.get("declared_on"),
                known_orgs=self.known_orgs,
            )
        except DeclarationInvalid as exc:
            raise RowInvalid(exc.errors) from None
