"""Newsletter benchmark (issue 5): mailing a news post to N confirmed subscribers through
a real SMTP server on loopback — messages per second, and the peak memory of the sending
process, which must stay flat as the list grows.

    python -m bench newsletter [--subscribers N [N …]] [--batch B]

A fresh temporary home (SQLite, set up by ``tallylog init``) gets N confirmed subscribers
(``bulk_create``, the three languages in turn) and a published post with its two
translations; the real sender, ``tallylog newsletter send POST_ID``, runs as a child
process pointed at an aiosmtpd server on 127.0.0.1 through TALLYLOG_EMAIL_HOST/_PORT. The
server runs in a process of its own (its memory and parsing are not the sender's) and
counts what it accepts; the benchmark checks that every subscriber got exactly one message.

Several sizes run one after the other on the same home (the list grows, a new post is
mailed each time), e.g. ``--subscribers 10000 100000``: peak RSS at each size shows
whether memory grows with the list. The sender's RSS is also sampled during the run
(``/proc/PID/status``), so the report gives it after the first tenth of the messages and
at the end.
"""

from __future__ import annotations

import argparse
import multiprocessing
import os
import subprocess
import sys
import tempfile
import time
from datetime import timedelta
from multiprocessing.connection import Connection

LANGUAGES = ("zh-hans", "zh-hant", "en")
DOMAIN = "bench.example"


def address(i: int) -> str:
    return f"reader{i}@{DOMAIN}"


def smtp_server(port_out: Connection, commands: Connection) -> None:
    """Child process: an aiosmtpd server on loopback that counts accepted messages and
    the distinct recipients; answers ``count`` and ``stop`` on ``commands``."""
    import logging

    from aiosmtpd.controller import Controller

    logging.getLogger("mail.log").setLevel(logging.WARNING)

    class Counter:
        def __init__(self) -> None:
            self.messages = 0
            self.recipients: set[str] = set()
            self.repeated = 0
            self.bytes = 0

        async def handle_DATA(self, server, session, envelope):  # noqa: ANN001, ANN201
            self.messages += 1
            self.bytes += len(envelope.original_content or b"")
            for rcpt in envelope.rcpt_tos:
                if rcpt in self.recipients:
                    self.repeated += 1
                self.recipients.add(rcpt)
            return "250 Message accepted"

    import socket

    with socket.socket() as probe:  # a free port (aiosmtpd does not take port 0)
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    counter = Counter()
    controller = Controller(counter, hostname="127.0.0.1", port=port)
    controller.start()
    port_out.send(controller.port)
    try:
        while True:
            try:
                command = commands.recv()
            except EOFError:  # the benchmark is gone
                break
            if command == "count":
                commands.send(counter.messages)
            elif command == "stats":
                expected = {address(i) for i in range(commands.recv())}
                commands.send(
                    {
                        "messages": counter.messages,
                        "distinct": len(counter.recipients),
                        "repeated": counter.repeated,
                        "unexpected": len(counter.recipients - expected),
                        "missing": len(expected - counter.recipients),
                        "bytes": counter.bytes,
                    }
                )
                counter.__init__()  # type: ignore[misc]
            elif command == "stop":
                break
    finally:
        controller.stop()


def rss_kib(pid: int) -> tuple[int, int]:
    """(VmRSS, VmHWM) of a live process, in KiB; (0, 0) once it is gone."""
    now = peak = 0
    try:
        with open(f"/proc/{pid}/status") as status:
            for line in status:
                if line.startswith("VmRSS:"):
                    now = int(line.split()[1])
                elif line.startswith("VmHWM:"):
                    peak = int(line.split()[1])
    except (FileNotFoundError, ProcessLookupError):
        pass
    return now, peak


def add_subscribers(start: int, stop: int) -> None:
    """Confirmed subscribers ``start`` … ``stop - 1``, in bulk, the languages in turn."""
    from django.utils import timezone

    from tallylog.registry.subscribers.models import ConsentStatement, Subscriber

    consent = ConsentStatement.objects.current()
    now = timezone.now()
    chunk = 5000
    for first in range(start, stop, chunk):
        Subscriber.objects.bulk_create(
            Subscriber(
                email=address(i), language=LANGUAGES[i % 3], status=Subscriber.Status.CONFIRMED,
                consent=consent, consented_at=now, confirmed_at=now,
            )
            for i in range(first, min(first + chunk, stop))
        )


def publish_post(n: int) -> int:
    """A published post in English with its two Chinese translations; the original's id."""
    from django.utils import timezone

    from tallylog.registry.news.models import Post

    when = timezone.now() - timedelta(minutes=1)
    body = (
        "The count passed another milestone this week.\n\n"
        "- every entry is a leaf of the public log\n- anyone can check the total\n\n"
        "Read [how to verify](https://example.org/transparency/) the tally yourself."
    )
    root = Post.objects.create(title=f"Milestone {n}", slug=f"milestone-{n}", language="en", body=body, published_at=when)
    for language, title in (("zh-hans", "又一个里程碑"), ("zh-hant", "又一個里程碑")):
        Post.objects.create(
            title=f"{title} {n}", slug=f"milestone-{n}-{language}", language=language,
            body="本周总数又过了一个里程碑。\n\n- 每一条都是公开日志的叶子\n- 任何人都可以核对总数",
            published_at=when, translation_of=root,
        )
    return root.pk


def send(home: str, post_id: int, port: int, batch: int, total: int, commands: Connection) -> dict[str, float]:
    """Run ``tallylog newsletter send`` as a child; its time, exit status and memory."""
    env = dict(
        os.environ, TALLYLOG_HOME=home, TALLYLOG_EMAIL_HOST="127.0.0.1", TALLYLOG_EMAIL_PORT=str(port),
        TALLYLOG_EMAIL_FROM="news@bench.example", TALLYLOG_SITE_URL="https://bench.example",
        TALLYLOG_ALLOWED_HOSTS="bench.example", TALLYLOG_TRUSTED_PROXIES="1",
    )
    argv = [sys.executable, "-m", "tallylog.cli", "newsletter", "send", str(post_id),
            "--home", home, "--batch", str(batch), "--no-progress"]
    log = tempfile.TemporaryFile()  # noqa: SIM115 (read after the child exits, then dropped)
    started = time.perf_counter()
    child = subprocess.Popen(argv, env=env, stdout=log, stderr=subprocess.STDOUT)
    first_tenth_rss = 0
    samples: list[int] = []
    while True:
        pid, wait_status, usage = os.wait4(child.pid, os.WNOHANG)  # the child's own rusage
        if pid:
            break
        time.sleep(0.5)
        now, _peak = rss_kib(child.pid)
        if now:
            samples.append(now)
        if not first_tenth_rss and now:
            commands.send("count")
            if commands.recv() >= total // 10:
                first_tenth_rss = now
    elapsed = time.perf_counter() - started
    child.returncode = os.waitstatus_to_exitcode(wait_status)
    log.seek(0)
    output = log.read().decode(errors="replace").strip()
    if child.returncode != 0:
        print(output, file=sys.stderr)
    return {
        "status": child.returncode, "seconds": elapsed, "peak_kib": usage.ru_maxrss,
        "first_tenth_kib": first_tenth_rss, "last_sample_kib": samples[-1] if samples else 0,
        "max_sample_kib": max(samples, default=0), "output": output,
    }


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench newsletter")
    parser.add_argument("--subscribers", type=int, nargs="+", default=[10_000], metavar="N",
                        help="list sizes, in increasing order, mailed one after the other (default 10000)")
    parser.add_argument("--batch", type=int, default=200, help="messages per SMTP connection (the CLI's default)")
    args = parser.parse_args(argv)
    sizes = sorted(args.subscribers)

    home = tempfile.mkdtemp(prefix="tallylog-bench-newsletter-")
    from tallylog.cli import main as cli

    if cli(["init", "--home", home, "--origin", "bench.example/newsletter"]) != 0:
        return 1
    from django.db import connection

    context = multiprocessing.get_context("spawn")
    port_in, port_out = context.Pipe()
    commands, server_end = context.Pipe()
    server = context.Process(target=smtp_server, args=(port_out, server_end), daemon=True)
    server.start()
    port = port_in.recv()

    status = 0
    have = 0
    try:
        for n in sizes:
            t = time.perf_counter()
            add_subscribers(have, n)
            have = n
            post_id = publish_post(n)
            connection.close()  # the sender is another process: let it have the database
            setup = time.perf_counter() - t
            run = send(home, post_id, port, args.batch, n, commands)
            commands.send("stats")
            commands.send(n)
            got = commands.recv()
            exact = got["messages"] == n and got["distinct"] == n and not (got["repeated"] or got["missing"] or got["unexpected"])
            if run["status"] != 0 or not exact:
                status = 1
            print(
                f"{n:,} subscribers: {got['messages']:,} messages in {run['seconds']:.1f} s = "
                f"{got['messages'] / run['seconds']:,.0f} msg/s (batch {args.batch}; setup {setup:.1f} s); "
                f"sender peak RSS {run['peak_kib'] / 1024:.1f} MiB "
                f"(sampled: {run['first_tenth_kib'] / 1024:.1f} MiB after the first tenth, "
                f"{run['last_sample_kib'] / 1024:.1f} MiB at the end); "
                f"mean message {got['bytes'] / max(got['messages'], 1):,.0f} B; "
                f"one per subscriber: {'yes' if exact else 'NO'} "
                f"(distinct {got['distinct']:,}, repeated {got['repeated']}, missing {got['missing']}, "
                f"unexpected {got['unexpected']}); {run['output']}",
                flush=True,
            )
    finally:
        commands.send("stop")
        server.join(10)
    print(f"cores {os.cpu_count()}; load average {' '.join(f'{x:.2f}' for x in os.getloadavg())}")
    return status
