"""The declarations list: newest first, keyset pages, filters, constant query count."""

from __future__ import annotations

import datetime
import re

from django.db import connection
from django.test import Client
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from tallylog.registry.campaigns.models import Campaign
from tallylog.registry.declarations.models import Declaration
from tallylog.registry.entries.models import LogEntry
from tallylog.web.views import PAGE_SIZE

ITEM = re.compile(r'<a href="/entries/(\d+)/">')


def ids(html: str) -> list[int]:
    """The log indexes a list page links to (a declaration's public id, issue 15)."""
    return [int(i) for i in ITEM.findall(html)]


def newest_first(*pks: int) -> list[int]:
    """The log indexes of declarations ``pks``, as a list shows them: by descending index
    (random within a batch, whatever the order of submission)."""
    indexes = LogEntry.objects.filter(declaration__pk__in=pks).values_list("log_index", flat=True)
    return sorted(indexes, reverse=True)


def test_newest_first_and_keyset_pages_cover_everything_once(declare, sequence) -> None:
    made = [declare(alias=f"a{i}").declaration.pk for i in range(PAGE_SIZE * 2 + 5)]
    sequence()
    client = Client(HTTP_ACCEPT_LANGUAGE="en")
    seen: list[int] = []
    url = "/declarations/"
    pages = []
    while url:
        html = client.get(url).content.decode()
        pages.append(html)
        seen += ids(html)
        older = re.search(r'href="(\?[^"]*before=\d+)" rel="next"', html)
        url = "/declarations/" + older.group(1).replace("&amp;", "&") if older else ""
    assert seen == newest_first(*made)
    assert len(pages) == 3
    # Going back to newer pages from the last one.
    newer = re.search(r'href="(\?[^"]*after=\d+)" rel="prev"', pages[-1]).group(1)
    assert ids(client.get("/declarations/" + newer).content.decode()) == ids(pages[1])


def test_filter_by_organisation_and_day(declare, sequence) -> None:
    a = declare(orgs=("party",)).declaration.pk
    sequence(datetime.date(2026, 1, 2))
    b = declare(orgs=("league", "pioneers")).declaration.pk
    c = declare(orgs=("party", "pioneers")).declaration.pk
    sequence()
    client = Client(HTTP_ACCEPT_LANGUAGE="en")
    assert ids(client.get("/declarations/?org=pioneers").content.decode()) == newest_first(c, b)
    assert ids(client.get("/declarations/?org=party").content.decode()) == newest_first(c, a)
    assert ids(client.get("/declarations/?day=2026-01-02").content.decode()) == newest_first(a)
    assert ids(client.get("/declarations/?day=2026-01-02&org=league").content.decode()) == []
    today = LogEntry.objects.get(declaration__pk=b).day.isoformat()
    assert ids(client.get(f"/declarations/?day={today}").content.decode()) == newest_first(c, b)
    assert ids(client.get("/declarations/?day=2026-01-03").content.decode()) == []  # nothing logged that day


def test_day_filter_keyset_pages_stay_inside_the_day(declare, sequence) -> None:
    """A day is its log index range: pages walk inside it and stop at its ends."""
    before = [declare(alias=f"b{i}").declaration.pk for i in range(3)]
    sequence(datetime.date(2026, 3, 1))
    inside = [declare(alias=f"d{i}").declaration.pk for i in range(PAGE_SIZE + 2)]
    sequence(datetime.date(2026, 3, 2))
    [declare(alias=f"a{i}") for i in range(3)]
    sequence(datetime.date(2026, 3, 3))
    client = Client(HTTP_ACCEPT_LANGUAGE="en")
    first = client.get("/declarations/?day=2026-03-02").content.decode()
    older = re.search(r'href="(\?[^"]*before=\d+)" rel="next"', first).group(1).replace("&amp;", "&")
    second = client.get("/declarations/" + older).content.decode()
    assert ids(first) + ids(second) == newest_first(*inside)
    assert 'rel="next"' not in second
    assert ids(client.get("/declarations/?day=2026-03-01").content.decode()) == newest_first(*before)


def test_bad_filters_show_an_error_and_no_rows(declare, sequence) -> None:
    declare()
    sequence()
    html = Client(HTTP_ACCEPT_LANGUAGE="en").get("/declarations/?day=yesterday&org=army").content.decode()
    assert "Enter a day as YYYY-MM-DD, for example 2026-12-03." in html
    assert "Choose an organisation from the list." in html
    assert ids(html) == []


def test_unsequenced_and_pending_declarations_are_not_listed(campaign, declare, sequence) -> None:
    declare(alias="visible")
    sequence()
    declare(alias="waiting")
    html = Client().get("/declarations/").content.decode()
    assert "visible" in html and "waiting" not in html


def query_count(client: Client, url: str) -> int:
    with CaptureQueriesContext(connection) as queries:
        assert client.get(url).status_code == 200
    return len(queries)


def test_query_count_does_not_grow_with_the_number_of_declarations(declare, sequence) -> None:
    client = Client(HTTP_ACCEPT_LANGUAGE="en")
    for i in range(3):
        declare(alias=f"x{i}", orgs=("party", "league"))
    sequence()
    first = pk = None
    few = {u: query_count(client, u) for u in ("/", "/declarations/", "/declarations/?org=party&day=2026-11-25")}
    for i in range(PAGE_SIZE + 20):
        pk = declare(alias=f"y{i}", statement="s", region="beijing").declaration.pk
        first = first or pk
    sequence()
    many = {u: query_count(client, u) for u in few}
    assert many == few
    first_index, last_index = newest_first(first)[0], newest_first(pk)[0]
    assert query_count(client, f"/entries/{first_index}/") == query_count(client, f"/entries/{last_index}/")


def test_exact_query_counts(declare, sequence, django_assert_num_queries) -> None:
    for i in range(PAGE_SIZE + 3):
        d = declare(alias=f"z{i}", orgs=("party", "pioneers")).declaration
    sequence()
    client = Client()
    for url, n in (
        ("/", 4),  # campaign, tally counts, milestones, organisations
        ("/declarations/", 3),  # campaign, organisations, one page of declarations with entries
        ("/declarations/?org=party&day=2026-11-25&before=9", 3),
        (f"/entries/{newest_first(d.pk)[0]}/", 2),  # declaration with campaign and entry, organisations
        ("/api/v1/campaigns/three-withdrawals/declarations", 2),
        (f"/api/v1/entries/{newest_first(d.pk)[0]}", 1),
    ):
        with django_assert_num_queries(n):
            assert client.get(url).status_code == 200, url


def test_list_query_walks_the_campaign_log_index_backwards(declare, sequence) -> None:
    """The list's query is an index range scan of log entries by (campaign, log_index),
    newest first: no scan of the table and no sort, on SQLite and on PostgreSQL (there with
    sequential scans and sorts priced out, as a sort of the tiny test tables is cheaper:
    what is asserted is that a plan without them exists)."""

    for i in range(5):
        declare(alias=f"p{i}")
    sequence()
    campaign = Campaign.objects.get(slug="three-withdrawals")
    today = timezone.now().date()
    queries = {
        "first": Declaration.objects.listed(campaign)[:51],
        "deep": Declaration.objects.listed(campaign).in_index_range(None, before=3)[:51],
        "newer": Declaration.objects.listed(campaign).in_index_range(None, after=1).order_by("entry__log_index")[:51],
        "day": Declaration.objects.listed(campaign).in_index_range(today)[:51],
        "deep in a day": Declaration.objects.listed(campaign).in_index_range(today, before=3)[:51],
        "newer in a day": Declaration.objects.listed(campaign).in_index_range(today, after=1).order_by("entry__log_index")[:51],
    }
    for name, qs in queries.items():
        sql, params = qs.query.sql_with_params()
        with connection.cursor() as cur:
            if connection.vendor == "postgresql":
                cur.execute("SET LOCAL enable_seqscan = off")
                cur.execute("SET LOCAL enable_sort = off")
                cur.execute("EXPLAIN " + sql, params)
            else:
                cur.execute("EXPLAIN QUERY PLAN " + sql, params)
            plan = "\n".join(str(row[-1]) for row in cur.fetchall())
        if connection.vendor == "postgresql":
            # Which of the log's ordered indexes walks it (by campaign, or by log index with
            # the campaign as a filter) follows the tiny tables' statistics, which the rest
            # of the suite moves: what holds is an ordered walk of the log's entries.
            assert re.search(r"Index (Only )?Scan (Backward )?using \S+ on entries_logentry", plan), (name, plan)
        else:
            assert "entry_campaign_index_idx" in plan, (name, plan)
        assert "TEMP B-TREE" not in plan and "Sort" not in plan, (name, plan)
        assert "SCAN declarations_declaration" not in plan and "Seq Scan" not in plan, (name, plan)


def test_an_entry_has_one_number_and_chinese_lists_read_as_chinese(declare, sequence) -> None:
    """The list and the entry's page call an entry by one number, its log index, with one
    word (声明 N, as the page's heading); organisations join with 、 after a full-width colon."""
    pk = declare(orgs=("party", "league")).declaration.pk
    sequence()
    (index,) = newest_first(pk)
    client = Client(HTTP_ACCEPT_LANGUAGE="zh-hans")
    listing = client.get("/declarations/").content.decode()
    assert "退出：中国共产党、共青团" in listing
    assert f"· 声明&nbsp;{index}</p>" in listing
    assert "日志序号" not in listing
    page = client.get(f"/entries/{index}/").content.decode()
    assert f"<h1>声明 {index}</h1>" in page
    assert "· 声明" not in page  # the heading says it once
    english = Client(HTTP_ACCEPT_LANGUAGE="en").get("/declarations/").content.decode()
    assert re.search(rf"Withdraws from: [^<]+, [^<]+ · <time[^>]*>\d{{4}}-\d\d-\d\d</time> · Declaration&nbsp;{index}</p>", english)
