"""What the public pages look up: campaigns by slug (or a 404), region names, and the
checkpoint a page proves against.

Thin reads over the registry; the checkpoint and proofs themselves come from
``tallylog.registry.entries.published``, which the JSON API uses too. No domain logic
lives here.
"""

from __future__ import annotations

from django.http import Http404, HttpRequest

from tallylog.registry.campaigns.models import Campaign
from tallylog.registry.declarations.regions import REGIONS
from tallylog.registry.entries.published import CheckpointInfo, current_checkpoint

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


def page_checkpoint(request: HttpRequest) -> CheckpointInfo | None:
    """The checkpoint a page shows and proves against: the current one, or the one a
    static export pinned (``tallylog.web.export``)."""
    marker = getattr(request, "tallylog_export", None)
    return marker.checkpoint if marker is not None else current_checkpoint()
