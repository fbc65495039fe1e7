"""The operator's readings (tallylog.ops.health) and /metrics (tallylog.ops.metrics): what
they count, what they call unhealthy, and the token in front of them."""

from __future__ import annotations

import datetime
import re

import pytest
from django.test import Client, RequestFactory, override_settings
from django.utils import timezone

from tallylog.ops.health import LAG_FLOOR, PASS_LIMIT, WITNESS_GRACE, problems, read_health
from tallylog.registry.declarations.actions import publish, reject
from tallylog.registry.declarations.models import Channel
from tallylog.registry.entries.models import LogEntry, LogState, Witness
from tallylog.registry.entries.schedule import next_boundary
from tallylog.safety.ratelimit import RateLimited, check_rate, refusals

TOKEN = "t0ken-" + "x" * 40


def scrape(client: Client, token: str | None = TOKEN) -> tuple[int, str]:
    headers = {"HTTP_AUTHORIZATION": f"Bearer {token}"} if token is not None else {}
    response = client.get("/metrics", **headers)
    return response.status_code, response.content.decode()


def sample(text: str, name: str, **labels: str) -> float:
    """The value of metric ``name`` with exactly ``labels`` in the exposition ``text``."""
    want = ",".join(f'{k}="{v}"' for k, v in sorted(labels.items()))
    for line in text.splitlines():
        m = re.fullmatch(r"([a-z_]+)(?:\{(.*)\})? (\S+)", line)
        if m and m[1] == name and ",".join(sorted((m[2] or "").split(","))) == ",".join(sorted(want.split(","))):
            return float(m[3])
    raise AssertionError(f"no {name}{{{want}}} in:\n{text}")


@pytest.fixture
def site(log, campaign, declare):  # noqa: ANN001, ANN201
    """Three web declarations and a phone one, published (auto policy), waiting for the sequencer."""
    for alias in ("A", "B", "C"):
        declare(alias=alias)
    declare(alias="D", channel=Channel.PHONE)
    return campaign


def test_readings_count_by_channel_and_state(site, declare, sequence) -> None:  # noqa: ANN001
    sequence()
    site.policy = site.Policy.REVIEW
    site.save()
    waiting = declare(alias="E").declaration
    publish(waiting)
    declare(alias="F")
    declare(alias="G", channel=Channel.PHONE)
    reject(declare(alias="H").declaration, "spam")

    h = read_health()
    assert h.log_size == 4 and h.checkpoint_size == 4
    assert h.logged == {("declaration", "phone"): 1, ("declaration", "web"): 3}
    assert h.waiting == {("declaration", "web"): 1}
    assert h.held == {"phone": 1, "web": 1}
    assert h.declarations_published() == {"phone": 1, "web": 4}
    assert h.declarations_received() == {"phone": 2, "web": 6}
    assert h.oldest_waiting_age is not None and h.sequencer_lag <= h.oldest_waiting_age
    assert problems(h) == []


def test_sequencer_lag_against_the_schedule(site, declare, review_campaign) -> None:  # noqa: ANN001
    oldest = LogEntry.objects.awaiting_sequence().values_list("published_at", flat=True).first()
    due_at = next_boundary(oldest, 900)
    with override_settings(TALLYLOG_PUBLISH_INTERVAL=900):
        h = read_health(now=oldest)
        # Waiting, not yet due: neither counted (that would date each arrival) nor late.
        assert h.waiting_total == 0 and h.declarations_received() == {}
        assert (h.sequencer_lag, h.oldest_waiting_age, h.lag_limit) == (0, None, 1800)
        assert problems(h) == []
        # From the batch time they were due at, they count; nothing says when each came.
        at_batch = read_health(now=due_at)
        assert at_batch.waiting_total == 4 and at_batch.declarations_received() == {"phone": 1, "web": 3}
        assert (at_batch.sequencer_lag, at_batch.oldest_waiting_age) == (0, None)
        declare(alias="later")  # held for review (the campaign now asks for it): counted from the next batch time
        assert read_health(now=timezone.now()).held == {}
        assert read_health(now=next_boundary(timezone.now(), 900)).held == {"web": 1}
        # Long past the batch time: late, and unhealthy past twice the interval.
        later_now = due_at + datetime.timedelta(seconds=1800 + 60)
        later = read_health(now=later_now)
    assert later.sequencer_lag == 1860
    [reason] = [p for p in problems(later) if "lag" in p]
    assert "twice the publication interval of 900 s" in reason
    # Without a schedule the entries are due at once, their age is shown, and the floor applies.
    assert read_health().oldest_waiting_age is not None
    late = read_health(now=timezone.now() + datetime.timedelta(seconds=LAG_FLOOR + 5))
    assert any("sequencer lag" in p for p in problems(late))


def test_stopped_sequencer_and_unpublished_checkpoint_are_named(site, sequence) -> None:  # noqa: ANN001
    sequence()
    now = timezone.now()
    assert problems(read_health(now=now)) == []
    stalled = read_health(now=now + datetime.timedelta(seconds=PASS_LIMIT + 10))
    assert any("last pass" in p and "is it running" in p for p in problems(stalled))
    # A pass committed (step 4) and did not publish (step 5).
    LogState.objects.filter(pk=1).update(size=5)
    [reason] = problems(read_health(now=now))
    assert "does not cover the committed log" in reason and "size 4" in reason


def test_witness_short_of_quorum(site, sequence) -> None:  # noqa: ANN001
    sequence()
    Witness.objects.create(name="w.example/one", vkey="k", url="http://w.example/", cosigned_size=2, last_error="timeout")
    now = timezone.now()
    h = read_health(now=now)
    [w] = h.witnesses
    assert (w.name, w.behind, w.failing, w.cosigned_age) == ("w.example/one", 2, True, None)
    assert problems(h) == []  # just published: the witnesses have time
    late = read_health(now=now + datetime.timedelta(seconds=WITNESS_GRACE + 1))
    assert any("0 of the quorum of 1 witnesses" in p and "w.example/one (2 behind)" in p for p in problems(late))
    Witness.objects.update(cosigned_size=4, cosigned_at=now, last_error="")
    assert not any("witness" in p for p in problems(read_health(now=now + datetime.timedelta(seconds=WITNESS_GRACE + 1))))


@override_settings(TALLYLOG_RATE_LIMITS="declare=1/600,login=1/900")
def test_refusals_are_counted_by_scope_only(db) -> None:  # noqa: ANN001
    assert refusals()["declare"] == 0
    request = RequestFactory().post("/", REMOTE_ADDR="192.0.2.44")
    check_rate(request, "declare")
    for _ in range(3):
        with pytest.raises(RateLimited):
            check_rate(request, "declare")
    counted = refusals()
    assert counted["declare"] == 3 and counted["login"] == 0
    # The failed sign-in limit counts its refusals too.
    client = Client(REMOTE_ADDR="192.0.2.45")
    for _ in range(3):
        client.post("/admin/login/", {"username": "nobody", "password": "wrong"})
    assert refusals()["login"] >= 1


def test_metrics_need_a_configured_token(site) -> None:  # noqa: ANN001
    client = Client()
    assert scrape(client)[0] == 404  # no token configured: no /metrics
    with override_settings(TALLYLOG_METRICS_TOKEN=TOKEN):
        for token in (None, "wrong", TOKEN[:-1], TOKEN + "x", ""):
            status, body = scrape(client, token)
            assert (status, body) == (401, "")
        response = client.get("/metrics", HTTP_AUTHORIZATION=f"Basic {TOKEN}")
        assert response.status_code == 401 and response["WWW-Authenticate"] == "Bearer"
        assert client.post("/metrics", HTTP_AUTHORIZATION=f"Bearer {TOKEN}").status_code == 405
        status, body = scrape(client)
    assert status == 200
    assert sample(body, "tallylog_declarations_received_total", channel="web") == 3
    assert sample(body, "tallylog_declarations_received_total", channel="phone") == 1
    assert sample(body, "tallylog_entries_waiting", kind="declaration", channel="web") == 3
    assert sample(body, "tallylog_log_size") == 0
    assert sample(body, "tallylog_mail_deliveries", state="pending") == 0
    assert sample(body, "tallylog_rate_limit_refusals_total", scope="declare") == 0
    assert "192.0.2" not in body and "127.0.0.1" not in body


def test_metrics_follow_the_sequencer(site, sequence) -> None:  # noqa: ANN001
    sequence()
    with override_settings(TALLYLOG_METRICS_TOKEN=TOKEN):
        status, body = scrape(Client())
    assert status == 200
    assert sample(body, "tallylog_log_size") == sample(body, "tallylog_checkpoint_size") == 4
    assert sample(body, "tallylog_log_entries_total", kind="declaration", channel="web") == 3
    assert sample(body, "tallylog_declarations_published_total", channel="phone") == 1
    assert sample(body, "tallylog_sequencer_lag_seconds") == 0
    assert sample(body, "tallylog_healthy") == 1


@pytest.mark.parametrize("bad", ["short", "x" * 31, "has space" + "x" * 30, "é" * 40])
def test_a_bad_token_is_a_system_check_that_does_not_repeat_it(bad: str) -> None:
    from tallylog.config import problems as config_problems

    with override_settings(TALLYLOG_METRICS_TOKEN=bad):
        [found] = [p for p in config_problems() if p.name == "TALLYLOG_METRICS_TOKEN"]
    assert found.check == "tallylog.E023" and bad not in found.message
