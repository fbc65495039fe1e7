"""Outreach statistics: counts by month, declarations per hundred calls, active
volunteers, the SVG chart, the CSV export and what the public may see."""

from __future__ import annotations

import csv
import datetime
import io
import xml.etree.ElementTree as ET

from django.db import connection
from django.test.utils import CaptureQueriesContext

from tallylog.registry.campaigns.models import Campaign
from tallylog.registry.entries.models import TallyCount
from tallylog.registry.volunteers import actions
from tallylog.registry.volunteers.models import Call
from tallylog.registry.volunteers.stats import (
    centre_summaries,
    outcome_chart_svg,
    outreach_stats,
    public_channel_totals,
    stats_csv,
)

from .conftest import Team, login

TODAY = datetime.date(2026, 11, 25)


def _calls(staff, day: datetime.date, outcomes: dict[str, int], declarations: int = 0) -> None:
    for outcome, n in outcomes.items():
        for _ in range(n):
            call = actions.record_call(staff, outcome=outcome, language="mandarin", duration="1-5", called_on=day)
            if outcome == "declared" and declarations:
                Call.objects.filter(pk=call.pk).update(declarations=declarations)


def test_monthly_outcomes_and_rates(team: Team) -> None:
    _calls(team.volunteer, datetime.date(2026, 9, 3), {"hung_up": 3, "hostile": 1})
    _calls(team.colleague, datetime.date(2026, 11, 2), {"listened": 2, "thanked": 1, "declared": 1}, declarations=3)
    _calls(team.outsider, datetime.date(2026, 11, 20), {"no_answer": 5})
    _calls(team.volunteer, datetime.date(2025, 1, 1), {"hostile": 7})  # before the window

    la = outreach_stats(team.la, months=3, today=TODAY)
    assert [m.month for m in la.months] == [datetime.date(2026, 9, 1), datetime.date(2026, 10, 1), datetime.date(2026, 11, 1)]
    sep, oct_, nov = la.months
    assert sep.outcomes == {"hung_up": 3, "hostile": 1} and sep.volunteers == 1
    assert oct_.calls == 0 and oct_.share("declared") == 0.0
    assert nov.outcomes == {"listened": 2, "thanked": 1, "declared": 1}
    assert nov.share("listened") == 0.5 and nov.declarations == 3
    assert (la.calls, la.declarations) == (8, 3)
    assert la.per_hundred_calls == 37.5
    assert la.active_volunteers == 1  # the colleague called within 30 days; the volunteer did not

    everyone = outreach_stats(None, months=3, today=TODAY)
    assert everyone.calls == 13 and everyone.active_volunteers == 2
    assert outreach_stats(team.sf, months=3, today=TODAY).per_hundred_calls == 0.0
    empty = outreach_stats(team.la, months=1, today=datetime.date(2026, 10, 15))
    assert empty.calls == 0 and empty.per_hundred_calls is None

    summaries = {s.centre.slug: s for s in centre_summaries(since=datetime.date(2026, 9, 1), today=TODAY)}
    assert (summaries["los-angeles"].calls, summaries["los-angeles"].declarations) == (8, 3)
    assert summaries["san-francisco"].per_hundred_calls == 0.0


def test_queries_do_not_grow_with_the_calls(team: Team) -> None:
    _calls(team.volunteer, datetime.date(2026, 11, 1), {"thanked": 1})
    with CaptureQueriesContext(connection) as few:
        outreach_stats(team.la, today=TODAY)
    _calls(team.colleague, datetime.date(2026, 10, 1), {"hung_up": 20, "declared": 5})
    with CaptureQueriesContext(connection) as many:
        outreach_stats(team.la, today=TODAY)
    assert len(few) == len(many) == 3


def test_csv_export(team: Team) -> None:
    _calls(team.volunteer, datetime.date(2026, 11, 2), {"listened": 1, "declared": 1}, declarations=2)
    text = stats_csv(outreach_stats(team.la, months=2, today=TODAY))
    rows = list(csv.DictReader(io.StringIO(text)))
    assert [r["month"] for r in rows] == ["2026-10", "2026-11"]
    assert rows[1] == {
        "centre": "los-angeles", "month": "2026-11", "no_answer": "0", "hung_up": "0", "hostile": "0",
        "listened": "1", "thanked": "0", "declared": "1", "calls": "2", "declarations": "2",
        "declarations_per_100_calls": "100.0", "volunteers": "1",
    }  # fmt: skip
    assert rows[0]["declarations_per_100_calls"] == ""


def test_the_chart_is_plain_svg(team: Team) -> None:
    _calls(team.volunteer, datetime.date(2026, 11, 2), {"listened": 3, "declared": 1})
    svg = outcome_chart_svg(outreach_stats(team.la, months=2, today=TODAY))
    root = ET.fromstring(svg)  # well-formed XML
    assert root.tag == "{http://www.w3.org/2000/svg}svg"
    assert "script" not in svg and "style=" not in svg and "href" not in svg
    bars = [r for r in root.iter("{http://www.w3.org/2000/svg}rect") if r.get("fill") != "#eeeeee"]
    heights = sorted(float(r.get("height")) for r in bars)
    assert len(bars) == 2 and abs(heights[1] - 3 * heights[0]) < 0.2  # 75 % and 25 %


def test_the_stats_page_and_csv_download(team: Team) -> None:
    _calls(team.volunteer, datetime.date.today(), {"thanked": 2})
    client = login(team.coordinator)
    page = client.get("/console/stats/?months=abc")
    assert page.status_code == 200 and b"<svg" in page.content
    download = client.get("/console/stats.csv?months=3")
    assert download["Content-Type"].startswith("text/csv")
    assert "attachment" in download["Content-Disposition"]
    assert download.content.decode().count("\r\n") == 4


def test_the_public_sees_only_totals_by_channel(campaign: Campaign) -> None:
    TallyCount.objects.create(campaign=campaign, dimension="channel", key="phone", count=7)
    TallyCount.objects.create(campaign=campaign, dimension="channel", key="web", count=5)
    TallyCount.objects.create(campaign=campaign, dimension="org", key="party", count=12)
    assert public_channel_totals(campaign) == {"phone": 7, "web": 5}
