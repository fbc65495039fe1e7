"""Outreach statistics: how calls went, month by month, per centre and overall.

``outreach_stats`` answers with a constant number of queries whatever the number of
calls; ``stats_csv`` and ``outcome_chart_svg`` render its answer. The public never sees
any of it: ``public_channel_totals`` is all a public page may show (the tally by channel,
as recomputable from the log itself).
"""

from __future__ import annotations

import csv
import datetime
import io
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from django.db.models import Count, Sum
from django.db.models.functions import TruncMonth
from django.utils import timezone
from django.utils.html import escape
from django.utils.translation import gettext as _

from tallylog.registry.campaigns.models import Campaign
from tallylog.registry.volunteers.models import Call, Centre, Outcome

ACTIVE_DAYS = 30
# One colour per outcome, from refusal (warm) to declaration (deep green).
OUTCOME_COLOURS = {
    Outcome.NO_ANSWER: "#bdbdbd",
    Outcome.HUNG_UP: "#e07b39",
    Outcome.HOSTILE: "#c0392b",
    Outcome.LISTENED: "#7fb3d5",
    Outcome.THANKED: "#2e86c1",
    Outcome.DECLARED: "#1e8449",
}


@dataclass
class Month:
    month: datetime.date  # the first day of the month
    outcomes: dict[str, int] = field(default_factory=dict)
    declarations: int = 0
    volunteers: int = 0

    @property
    def calls(self) -> int:
        return sum(self.outcomes.values())

    @property
    def outcomes_in_order(self) -> list[tuple[str, int]]:
        """(outcome, count) for every outcome, in ``Outcome`` order."""
        return [(o, self.outcomes.get(o, 0)) for o in Outcome.values]

    def share(self, outcome: str) -> float:
        """The fraction of this month's calls with ``outcome`` (0 when there were none)."""
        return self.outcomes.get(outcome, 0) / self.calls if self.calls else 0.0


@dataclass
class Outreach:
    centre: Centre | None  # None: every centre
    months: list[Month]
    calls: int
    declarations: int
    active_volunteers: int  # distinct volunteers with a call in the last ACTIVE_DAYS days

    @property
    def per_hundred_calls(self) -> float | None:
        """Declarations per hundred calls over the period, or None without calls."""
        return 100.0 * self.declarations / self.calls if self.calls else None


def _month_start(day: datetime.date, back: int) -> datetime.date:
    index = day.year * 12 + day.month - 1 - back
    return datetime.date(index // 12, index % 12 + 1, 1)


def outreach_stats(centre: Centre | None = None, *, months: int = 12, today: datetime.date | None = None) -> Outreach:
    """Calls of ``centre`` (or every centre) in the last ``months`` calendar months, this
    one included: outcome counts, declarations and active volunteers per month. Three
    queries."""
    today = today or timezone.localdate()
    start = _month_start(today, months - 1)
    calls = Call.objects.at_centre(centre).filter(called_on__gte=start, called_on__lte=today)
    by_month = {_month_start(start, -i): Month(_month_start(start, -i)) for i in range(months)}
    rows = (
        calls.annotate(m=TruncMonth("called_on"))
        .values("m", "outcome")
        .annotate(n=Count("id"), d=Sum("declarations"))
        .order_by()
    )
    for row in rows:
        month = by_month[_as_date(row["m"])]
        month.outcomes[row["outcome"]] = row["n"]
        month.declarations += row["d"] or 0
    for active_row in calls.annotate(m=TruncMonth("called_on")).values("m").annotate(v=Count("volunteer", distinct=True)).order_by():
        by_month[_as_date(active_row["m"])].volunteers = active_row["v"]
    active = (
        Call.objects.at_centre(centre)
        .filter(called_on__gt=today - datetime.timedelta(days=ACTIVE_DAYS), called_on__lte=today)
        .aggregate(v=Count("volunteer", distinct=True))["v"]
    )
    ordered = [by_month[k] for k in sorted(by_month)]
    return Outreach(
        centre=centre,
        months=ordered,
        calls=sum(m.calls for m in ordered),
        declarations=sum(m.declarations for m in ordered),
        active_volunteers=active,
    )


def _as_date(value: datetime.date | datetime.datetime) -> datetime.date:
    return value.date() if isinstance(value, datetime.datetime) else value


@dataclass
class CentreSummary:
    centre: Centre
    calls: int
    declarations: int
    active_volunteers: int

    @property
    def per_hundred_calls(self) -> float | None:
        return 100.0 * self.declarations / self.calls if self.calls else None


def centre_summaries(*, since: datetime.date, today: datetime.date | None = None) -> list[CentreSummary]:
    """One line per centre for calls since ``since``: calls, declarations, volunteers
    active in the last ``ACTIVE_DAYS`` days. Two queries."""
    today = today or timezone.localdate()
    totals: dict[int, Mapping[str, Any]] = {
        row["centre"]: row
        for row in Call.objects.filter(called_on__gte=since, called_on__lte=today)
        .values("centre")
        .annotate(n=Count("id"), d=Sum("declarations"))
        .order_by()
    }
    active = dict(
        Call.objects.filter(called_on__gt=today - datetime.timedelta(days=ACTIVE_DAYS), called_on__lte=today)
        .values("centre")
        .annotate(v=Count("volunteer", distinct=True))
        .order_by()
        .values_list("centre", "v")
    )
    return [
        CentreSummary(
            centre=c,
            calls=totals.get(c.pk, {}).get("n", 0),
            declarations=totals.get(c.pk, {}).get("d") or 0,
            active_volunteers=active.get(c.pk, 0),
        )
        for c in Centre.objects.order_by("name")
    ]


def stats_csv(outreach: Outreach) -> str:
    """The monthly figures as CSV (RFC 4180), one line per month, outcome codes as
    column names."""
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\r\n")
    writer.writerow(
        ["centre", "month", *Outcome.values, "calls", "declarations", "declarations_per_100_calls", "volunteers"]
    )
    name = outreach.centre.slug if outreach.centre else "all"
    for m in outreach.months:
        per_hundred = f"{100.0 * m.declarations / m.calls:.1f}" if m.calls else ""
        writer.writerow(
            [name, m.month.strftime("%Y-%m"), *(m.outcomes.get(o, 0) for o in Outcome.values),
             m.calls, m.declarations, per_hundred, m.volunteers]
        )  # fmt: skip
    return out.getvalue()


def outcome_chart_svg(outreach: Outreach, *, width: int = 640, height: int = 220) -> str:
    """Outcome shares by month as a server-rendered SVG: one bar per month, stacked to
    100 %, in ``OUTCOME_COLOURS`` order; each segment has a ``<title>``. No script, no
    style attribute (presentation attributes only)."""
    left, bottom, top = 8, 22, 8
    n = max(len(outreach.months), 1)
    slot = (width - left * 2) / n
    bar = slot * 0.7
    plot = height - bottom - top
    title = escape(_("Outcome of calls by month, as shares of each month's calls"))
    parts = [
        f'<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 {width} {height}" '
        f'width="{width}" height="{height}" role="img" aria-label="{title}"><title>{title}</title>'
    ]
    for i, month in enumerate(outreach.months):
        x = left + i * slot + (slot - bar) / 2
        label = month.month.strftime("%Y-%m")
        parts.append(
            f'<text x="{x + bar / 2:.1f}" y="{height - 6}" font-size="10" text-anchor="middle">{label[2:]}</text>'
        )
        if not month.calls:
            parts.append(f'<rect x="{x:.1f}" y="{top + plot - 1}" width="{bar:.1f}" height="1" fill="#eeeeee"/>')
            continue
        y = float(top + plot)
        for outcome, colour in OUTCOME_COLOURS.items():
            count = month.outcomes.get(outcome, 0)
            if not count:
                continue
            h = plot * count / month.calls
            y -= h
            tip = escape(f"{label} {Outcome(outcome).label}: {count} / {month.calls}")
            parts.append(
                f'<rect x="{x:.1f}" y="{y:.1f}" width="{bar:.1f}" height="{h:.1f}" fill="{colour}">'
                f"<title>{tip}</title></rect>"
            )
    parts.append("</svg>")
    return "".join(parts)


def public_channel_totals(campaign: Campaign) -> dict[str, int]:
    """What the public may know about the service centres' work: the counted entries of
    ``campaign`` by channel (``web``, ``phone``, …), exactly as recomputable from the
    log's leaves. No call, centre or volunteer figure is ever public."""
    from tallylog.registry.entries.models import TallyCount

    return TallyCount.objects.for_campaign(campaign, "channel")
