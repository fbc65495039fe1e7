"""The volunteers' console: server time per declaration recorded, and the intake page's weight.

Runs in-process on a fresh home (SQLite file, WAL, ``synchronous=FULL``: the production
settings) through Django's full request path (middleware, sessions, CSRF, templates)
with the test client, so the figures are server time without the network. A volunteer
logs in, records a call, then records ``--count`` declarations through the intake page
(one POST each, answered with the receipt and a fresh form: one round trip per
declaration) and ``--count`` more through the console API. Reports p50/p99/mean per
submission, and the bytes of the intake page (HTML, and the stylesheet it links, the only
other request). Target: intake page under 30 KB; one round trip per declaration.

    python -m bench volunteers [--count N] [--write]

``--write`` appends the figures to bench/RESULTS.md under "Volunteers' console".
"""

from __future__ import annotations

import json
import os
import re
import statistics
import sys
import tempfile
import time

from bench.pageweight import ROOT, TARGET, arguments, write_results

PASSWORD = "a long benchmark passphrase"


def _percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


def measure(count: int) -> dict[str, object]:
    """Timings (ms) and sizes (bytes); runs in a fresh temporary home."""
    home = tempfile.mkdtemp(prefix="tallylog-bench-volunteers-")
    os.environ["TALLYLOG_HOME"] = home
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "tallylog.settings")
    sys.path.insert(0, str(ROOT))
    from tallylog.home import Home

    Home.from_env().ensure()
    import django

    django.setup()
    from django.core.management import call_command
    from django.test import Client, override_settings

    from tallylog.registry.campaigns.defaults import ensure_default_campaign
    from tallylog.registry.volunteers import actions

    call_command("migrate", verbosity=0)
    ensure_default_campaign()
    centre = actions.create_centre("Benchmark")
    actions.add_staff("bench-volunteer", role="volunteer", centre=centre, password=PASSWORD)

    # Rate limits off: this measures the server's own work, not the limits.
    with override_settings(TALLYLOG_RATE_LIMITS="off", TALLYLOG_FLOOD_THRESHOLD=0):
        client = Client()
        client.post("/console/login/", {"username": "bench-volunteer", "password": PASSWORD})
        client.post("/console/calls/new/", {"outcome": "declared", "language": "mandarin", "duration": "30+"})
        from tallylog.registry.volunteers.models import Call

        call = Call.objects.get()
        url = f"/console/calls/{call.pk}/intake/"
        page = client.get(url)
        once = re.search(rb'name="once" value="([^"]+)"', page.content).group(1).decode()  # type: ignore[union-attr]
        css = client.get("/console/console.css")
        orgs = [["party"], ["league"], ["party", "league", "pioneers"]]
        page_times, requests = [], 0
        answer_size = 0
        for i in range(count):
            data = {"alias": f"家人{i}", "orgs": orgs[i % 3], "statement": "我们全家退出。" * (i % 4), "region": "henan",
                    "once": once}  # fmt: skip
            start = time.perf_counter()
            response = client.post(url, data)
            page_times.append((time.perf_counter() - start) * 1000)
            requests += 1
            if response.status_code != 200 or b'class="receipt-code"' not in response.content:
                raise SystemExit(f"intake failed: {response.status_code} {response.content[:500]!r}")
            answer_size = max(answer_size, len(response.content))
            # The answer carries the next form's one-time token: no extra request.
            once = re.search(rb'name="once" value="([^"]+)"', response.content).group(1).decode()  # type: ignore[union-attr]
        api_times = []
        for i in range(count):
            body = json.dumps({"alias": f"家人A{i}", "orgs": orgs[i % 3], "region": "henan"})
            start = time.perf_counter()
            response = client.post(f"/api/v1/console/calls/{call.pk}/declarations", body, content_type="application/json")
            api_times.append((time.perf_counter() - start) * 1000)
            if response.status_code != 201:
                raise SystemExit(f"API intake failed: {response.status_code} {response.content[:500]!r}")
    return {
        "count": count,
        "page_ms": page_times,
        "api_ms": api_times,
        "round_trips_per_declaration": requests / count,
        "intake_bytes": len(page.content),
        "answer_bytes": answer_size,
        "css_bytes": len(css.content),
    }


def report(figures: dict[str, object]) -> str:
    def line(name: str, values: list[float]) -> str:
        return (
            f"| {name} | {len(values)} | {statistics.median(values):.2f} | {_percentile(values, 0.99):.2f} "
            f"| {statistics.fmean(values):.2f} |"
        )

    intake, answer, css = figures["intake_bytes"], figures["answer_bytes"], figures["css_bytes"]
    return "\n".join(
        [
            "| submission | n | p50 ms | p99 ms | mean ms |",
            "| --- | ---: | ---: | ---: | ---: |",
            line("intake page POST (answer: receipt + fresh form)", figures["page_ms"]),  # type: ignore[arg-type]
            line("console API POST /api/v1/console/calls/{id}/declarations", figures["api_ms"]),  # type: ignore[arg-type]
            "",
            f"Round trips per declaration: {figures['round_trips_per_declaration']:.0f}. "
            f"Intake page: {intake} B HTML + {css} B stylesheet = {(intake + css) / 1024:.1f} KB "  # type: ignore[operator]
            f"(target < 30 KB); the answer with the receipt: {answer} B.",
        ]
    )


def main(argv: list[str]) -> int:
    args = arguments("volunteers", __doc__, argv, count=500, counted="declarations per path")
    figures = measure(args.count)
    text = report(figures)
    print(text)
    if args.write:
        write_results(
            "Volunteers' console", "volunteers", args.count,
            " (in-process, Django test client, SQLite WAL synchronous=FULL, rate limits off).",
            text,
        )  # fmt: skip
    total = figures["intake_bytes"] + figures["css_bytes"]  # type: ignore[operator]
    return 0 if total < TARGET and figures["round_trips_per_declaration"] == 1 else 1
