"""``/metrics``: the site's health in Prometheus' text format, for the operator's scraper.

Behind a bearer token (``TALLYLOG_METRICS_TOKEN``): without one configured the address
does not exist (404); a request without the right ``Authorization: Bearer TOKEN`` gets a
bare 401, the token compared in constant time. Every value is read when Prometheus
scrapes (``HealthCollector`` over ``tallylog.ops.health.read_health``), from the database
and the shared cache, so any worker process answers the same; nothing is kept in the
process. No metric carries anything personal or an address: labels are channels, entry
kinds, delivery states, limit scopes and witness names (public keys' names).
"""

from __future__ import annotations

import hashlib
import hmac
from collections.abc import Iterator, Mapping
from typing import Any

from django.http import Http404, HttpRequest, HttpResponse
from django.urls import path
from django.views.decorators.http import require_safe
from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, generate_latest
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric
from prometheus_client.registry import Collector

from tallylog.config import config
from tallylog.ops.health import Health, problems, read_health


class HealthCollector(Collector):
    """The metrics of one ``read_health`` reading, taken at each scrape."""

    def collect(self) -> Iterator[Metric]:
        return iter(metric_families(read_health()))


def metric_families(h: Health) -> list[Metric]:
    """The metrics of reading ``h`` (docs/operating.md lists them)."""
    out: list[Metric] = []

    def gauge(name: str, doc: str, value: float | None) -> None:
        if value is not None:
            out.append(GaugeMetricFamily(name, doc, value=value))

    def labelled(kind: type[GaugeMetricFamily | CounterMetricFamily], name: str, doc: str, labels: list[str], values: Mapping[Any, float]) -> None:
        family = kind(name, doc, labels=labels)
        for key, n in values.items():
            family.add_metric(list(key) if isinstance(key, tuple) else [key], n)
        out.append(family)

    labelled(
        CounterMetricFamily, "tallylog_declarations_received",
        "Declarations received: published, held for review or rejected.", ["channel"], h.declarations_received(),
    )
    labelled(
        CounterMetricFamily, "tallylog_declarations_published",
        "Declarations published: in the log or waiting for their batch.", ["channel"], h.declarations_published(),
    )
    labelled(CounterMetricFamily, "tallylog_log_entries", "Entries in the log.", ["kind", "channel"], h.logged)
    labelled(
        GaugeMetricFamily, "tallylog_entries_waiting",
        "Published entries waiting for their batch of the publication schedule.", ["kind", "channel"], h.waiting,
    )
    labelled(
        GaugeMetricFamily, "tallylog_declarations_held_for_review",
        "Declarations held for a moderator's review.", ["channel"], h.held,
    )
    gauge("tallylog_log_size", "Entries in the committed log.", h.log_size)
    gauge("tallylog_checkpoint_size", "Tree size of the latest signed checkpoint.", h.checkpoint_size)
    gauge("tallylog_checkpoint_age_seconds", "Seconds since the latest checkpoint was recorded.", h.checkpoint_age)
    gauge("tallylog_publish_interval_seconds", "The publication schedule's interval (0: none).", h.publish_interval)
    gauge(
        "tallylog_sequencer_oldest_waiting_seconds",
        "Age of the oldest entry waiting (without a publication schedule only; 0: none).",
        None if h.publish_interval else (h.oldest_waiting_age or 0.0),
    )
    gauge(
        "tallylog_sequencer_lag_seconds",
        "How long the oldest waiting entry is past the batch time it was due at (0: none late).", h.sequencer_lag,
    )
    gauge("tallylog_sequencer_lag_limit_seconds", "The sequencer lag beyond which the site is unhealthy.", h.lag_limit)
    gauge("tallylog_sequencer_last_pass_age_seconds", "Seconds since the sequencer last finished a pass.", h.last_pass_age)
    gauge("tallylog_witness_quorum", "Cosignatures needed to publish the cosigned checkpoint.", h.witness_quorum)
    by_witness = {w.name: w for w in h.witnesses}
    labelled(
        GaugeMetricFamily, "tallylog_witness_behind_entries",
        "Entries between the size each witness last cosigned and the log's.", ["witness"],
        {name: w.behind for name, w in by_witness.items()},
    )
    labelled(
        GaugeMetricFamily, "tallylog_witness_cosigned_size", "The tree size each witness last cosigned.",
        ["witness"], {name: w.cosigned_size for name, w in by_witness.items()},
    )
    labelled(
        GaugeMetricFamily, "tallylog_witness_cosigned_age_seconds", "Seconds since each witness last cosigned.",
        ["witness"], {name: w.cosigned_age for name, w in by_witness.items() if w.cosigned_age is not None},
    )
    labelled(
        GaugeMetricFamily, "tallylog_witness_failing", "1 when a witness's last attempt failed.",
        ["witness"], {name: int(w.failing) for name, w in by_witness.items()},
    )
    labelled(
        GaugeMetricFamily, "tallylog_mail_deliveries", "Newsletter deliveries not surely done, by state.",
        ["state"], h.mail,
    )
    labelled(
        CounterMetricFamily, "tallylog_rate_limit_refusals",
        "Requests refused by a rate limit, by limit, since the shared cache started.", ["scope"], h.refusals,
    )
    gauge("tallylog_healthy", "1 when `tallylog status` finds nothing wrong, else 0.", 0 if problems(h) else 1)
    return out


def _registry() -> CollectorRegistry:
    registry = CollectorRegistry(auto_describe=False)
    registry.register(HealthCollector())
    return registry


def _authorised(request: HttpRequest, token: str) -> bool:
    """Whether ``request`` carries ``Authorization: Bearer <token>``. The digests are
    compared in constant time (``hmac.compare_digest``), so neither the token nor its
    length leaks through timing."""
    scheme, _, given = request.headers.get("Authorization", "").partition(" ")
    if scheme.lower() != "bearer":
        return False
    expected = hashlib.sha256(token.encode()).digest()
    return hmac.compare_digest(hashlib.sha256(given.strip().encode("utf-8", "surrogatepass")).digest(), expected)


@require_safe
def metrics(request: HttpRequest) -> HttpResponse:
    """The metrics (``HealthCollector``), to a request with the configured bearer token."""
    token = config().metrics_token
    if not token:
        raise Http404
    if not _authorised(request, token):
        response = HttpResponse(b"", status=401, content_type="text/plain")
        response.headers["WWW-Authenticate"] = "Bearer"
    else:
        response = HttpResponse(generate_latest(_registry()), content_type=CONTENT_TYPE_LATEST)
    response.headers["Cache-Control"] = "no-store"
    return response


urlpatterns = [path("", metrics, name="metrics")]
app_name = "ops"
