"""Site commands: ``init``, ``serve``, ``sequence``, ``demo``.

Thin wrappers over the registry; see docs/operating.md.
"""

from __future__ import annotations

import argparse
import logging
import os
import signal
import socket
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import Any

from tallylog.cli import CLIError, setup_django

log = logging.getLogger("tallylog.serve")

# Open connections each web worker accepts (granian's backpressure); beyond them new
# connections wait in the listen backlog.
CONNECTIONS_PER_WORKER = 1024
# How long a client may take to send a request's header, and how long a kept-alive
# connection may stay idle before its next request (seconds).
HEADER_TIMEOUT = 10.0


def register(sub: argparse._SubParsersAction, common: argparse.ArgumentParser) -> None:
    """Add this module's subcommands to ``sub``."""
    p = sub.add_parser(
        "init",
        parents=[common],
        help="set up the home: secrets, signing key, database, default campaign (idempotent)",
    )
    p.add_argument(
        "--origin",
        help="the log's origin (its signing key's name) for a new key; default $TALLYLOG_ORIGIN or localhost/tallylog",
    )
    p.add_argument(
        "--demo",
        action="store_true",
        help="mark the home as a demonstration home, for `tallylog demo` (refused when it holds real data)",
    )
    p.set_defaults(func=cmd_init)

    p = sub.add_parser(
        "serve", parents=[common], help="serve the site (granian) with its sequencer"
    )
    p.add_argument("--port", type=int, default=8000, help="TCP port (default 8000)")
    p.add_argument("--host", default="127.0.0.1", help="address to listen on (default 127.0.0.1)")
    p.add_argument("--workers", type=int, default=2, help="web worker processes (default 2)")
    p.add_argument(
        "--threads", type=int, default=8, help="threads per worker (default 8: requests waiting for a shared commit)"
    )
    p.add_argument(
        "--connections",
        type=int,
        default=CONNECTIONS_PER_WORKER,
        help=f"open connections per worker (default {CONNECTIONS_PER_WORKER}); idle ones hold no thread",
    )
    p.add_argument(
        "--header-timeout",
        type=float,
        default=HEADER_TIMEOUT,
        help=f"seconds a client has to send a request's header, and a kept-alive connection may idle (default {HEADER_TIMEOUT:g})",
    )
    p.add_argument(
        "--access-log",
        action="store_true",
        help="log requests (time, method, path, status, size, duration; never the client address)",
    )
    p.add_argument("--no-sequencer", action="store_true", help="web workers only (a sequencer runs elsewhere)")
    p.set_defaults(func=cmd_serve)

    p = sub.add_parser(
        "sequence", parents=[common], help="run the sequencer alone (waits for the sequencer lease)"
    )
    p.add_argument("--once", action="store_true", help="sequence everything waiting, then exit")
    p.add_argument("--batch", type=int, help="entries per pass (default $TALLYLOG_SEQUENCER_BATCH)")
    p.add_argument("--interval", type=float, help="seconds between passes (default $TALLYLOG_SEQUENCER_INTERVAL)")
    p.add_argument("--parent-pid", type=int, help=argparse.SUPPRESS)
    p.set_defaults(func=cmd_sequence)

    p = sub.add_parser(
        "demo", parents=[common], help="fill the registry with realistic demonstration declarations"
    )
    p.add_argument("--count", type=int, default=3000, help="declarations to add (default 3000)")
    p.add_argument(
        "--days", type=int, default=30,
        help="spread over this many past days (default 30; days before the log's last day go on that day)",
    )
    p.add_argument("--campaign", default="three-withdrawals", help="campaign slug")
    p.add_argument("--seed", type=int, help="random seed (repeatable data)")
    p.set_defaults(func=cmd_demo)


# -- init ------------------------------------------------------------------------------


def cmd_init(args: argparse.Namespace) -> int:
    from tallylog.composition import ensure_signing_key
    from tallylog.config import environ_value
    from tallylog.home import Home

    home = Home.from_env(args.home)
    fixed = home.make_private()  # a home made before 0700/0600 (issue 15)
    home.ensure()
    origin = args.origin or environ_value("TALLYLOG_ORIGIN") or None
    try:
        vkey, created = ensure_signing_key(home, origin)
    except ValueError as exc:
        raise CLIError(str(exc)) from None
    args.home = str(home.path)
    setup_django(args)
    from django.core.management import call_command

    from tallylog.registry.campaigns.defaults import ensure_default_campaign

    call_command("migrate", interactive=False, verbosity=0)
    # The admin's stylesheets and scripts, into HOME/static: `serve` serves them at
    # /static/, and so does nginx (docs/deploy.md). The site's own pages need none.
    call_command("collectstatic", interactive=False, verbosity=0)
    campaign, campaign_created = ensure_default_campaign()
    from tallylog.web.tools import write_tools

    wheel = write_tools(home.log_dir)  # the auditor's tools, served at /log/tools/ (and by nginx)
    if args.demo:
        from tallylog.registry.declarations.demo import demo_refusal

        refusal = demo_refusal(home)
        if refusal:
            raise CLIError(refusal)
    print(f"home: {home.path}")
    for path in fixed:
        print(f"made private: {path}")
    print(f"signing key: {'created' if created else 'kept'} ({home.signing_key_path})")
    print(f"campaign {campaign.slug}: {'created' if campaign_created else 'kept'}")
    if home.is_demo:
        print(f"demonstration home ({home.demo_marker_path}): its log holds no real declarations")
    print(f"auditor's tools: {home.log_dir / 'tools' / wheel.name} (SHA-256 {wheel.sha256})")
    print(f"verifier key: {vkey}")
    return 0


# -- shared ----------------------------------------------------------------------------


def _ready_log(args: argparse.Namespace) -> Any:
    """Set up Django, run the tallylog checks, and return the log services."""
    from tallylog.config import environ_value
    from tallylog.home import Home

    home = Home.from_env(args.home)
    if not home.secrets_path.exists() and not environ_value("TALLYLOG_SECRET_KEY"):
        raise CLIError(f"tallylog.E001: no secrets in {home.path}: run `tallylog init`")
    from django.core.exceptions import ImproperlyConfigured

    try:
        setup_django(args)
    except ImproperlyConfigured as exc:
        raise CLIError(f"configuration: {exc}") from None
    from tallylog.checks import run_tallylog_checks

    errors = [m for m in run_tallylog_checks() if m.is_serious()]
    if errors:
        raise CLIError("; ".join(f"{m.id}: {m.msg}" for m in errors))
    from django.db import connection
    from django.db.migrations.executor import MigrationExecutor

    if MigrationExecutor(connection).migration_plan(
        MigrationExecutor(connection).loader.graph.leaf_nodes()
    ):
        raise CLIError("the database is not migrated: run `tallylog init`")
    from tallylog.composition import get_log

    return get_log()


def _recover_or_fail(log_services: Any, *, wait: bool = True) -> None:
    from tallylog.registry.entries.lease import LeaseBusy
    from tallylog.registry.entries.sequencer import recover
    from tallylog.tlog import LogInconsistentError

    try:
        recover(log_services, wait=wait)
    except LeaseBusy:
        if wait:
            raise
        print(
            "tallylog: another sequencer is active; this server's sequencer stands by",
            file=sys.stderr,
        )
    except LogInconsistentError as exc:
        raise CLIError(f"the stored log disagrees with the database; refusing to run: {exc}") from None


# -- sequence --------------------------------------------------------------------------


def cmd_sequence(args: argparse.Namespace) -> int:
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s %(message)s")
    log_services = _ready_log(args)
    from tallylog.registry.entries.lease import LeaseBusy, SequencerLease
    from tallylog.registry.entries.sequencer import (
        SequencerThread,
        sequence_pending,
        settings_batch_size,
    )

    batch = args.batch or settings_batch_size()
    if args.once:
        try:
            with SequencerLease(log_services.home, wait=False):
                _recover_or_fail(log_services)
                total = 0
                while n := sequence_pending(log_services, batch_size=batch):
                    total += n
        except LeaseBusy as exc:
            raise CLIError(f"{exc}; stop it or leave the work to it") from None
        print(f"sequenced {total} entries; log size {_log_size()}")
        return 0

    try:
        with SequencerLease(log_services.home, wait=False):
            pass
    except LeaseBusy:
        log.info("another sequencer holds the sequencer lease; standing by until it stops")
    thread = SequencerThread(log_services, batch_size=batch, interval=args.interval)
    stopping = threading.Event()

    def on_signal(signum: int, frame: object) -> None:
        stopping.set()

    signal.signal(signal.SIGTERM, on_signal)
    signal.signal(signal.SIGINT, on_signal)
    thread.start()
    while not stopping.is_set() and thread.is_alive():
        if args.parent_pid and os.getppid() != args.parent_pid:
            log.warning("the server that started this sequencer is gone; stopping")
            break
        stopping.wait(0.5)
    thread.stop()
    thread.join()
    if thread.error is not None:
        raise CLIError(f"sequencer stopped: {thread.error}")
    return 0


def _log_size() -> int:
    from tallylog.registry.entries.models import LogState

    return LogState.current().size


# -- serve -----------------------------------------------------------------------------


class _SequencerSupervisor:
    """Runs ``tallylog sequence`` as a child of the server's main process, restarting it if it
    dies, and stops it when the server stops. One child: exactly one sequencer."""

    def __init__(self, home: str) -> None:
        self.home = home
        self.process: subprocess.Popen[bytes] | None = None
        self.stopping = threading.Event()
        self.thread = threading.Thread(target=self._run, name="sequencer-supervisor", daemon=True)

    def start(self) -> None:
        self.thread.start()

    def _run(self) -> None:
        while not self.stopping.is_set():
            self.process = subprocess.Popen(
                [
                    sys.executable,
                    "-m",
                    "tallylog.cli",
                    "sequence",
                    "--home",
                    self.home,
                    "--parent-pid",
                    str(os.getpid()),
                ],
                # Its own session: a terminal's Ctrl-C reaches the master, which stops it.
                start_new_session=True,
            )
            status = self.process.wait()
            if self.stopping.is_set():
                return
            log.error("the sequencer exited with status %s; restarting in 2 s", status)
            self.stopping.wait(2)

    def stop(self) -> None:
        self.stopping.set()
        process = self.process
        if process is not None and process.poll() is None:
            process.send_signal(signal.SIGTERM)
            try:
                process.wait(timeout=30)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()
        self.thread.join(timeout=5)


def _check_port_free(host: str, port: int) -> None:
    """Fail at once, with a message, when another server (or another ``tallylog serve``)
    holds the address: each worker binds it with SO_REUSEPORT, which a second server
    could share."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    with socket.socket(family, socket.SOCK_STREAM) as probe:
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)  # as the server binds
        try:
            probe.bind((host, port))
        except OSError as exc:
            raise CLIError(f"cannot listen on {host} port {port}: {exc.strerror or exc}") from None


def _site_url(host: str, port: int) -> str:
    """The URL a person on this machine opens to reach a server bound to ``host``: by name
    for a loopback or wildcard address (the log scrubs every address, ours included)."""
    if host in ("", "0.0.0.0", "::", "::1") or host.startswith("127."):
        host = "localhost"
    return f"http://[{host}]:{port}/" if ":" in host else f"http://{host}:{port}/"


def _settle_site_url(host: str, port: int) -> None:
    """Make sure every link in mail this server sends points where people can open it.

    ``TALLYLOG_SITE_URL`` set: it is used (checked by tallylog.E017). Unset, on a loopback
    address (a development run, ``make run``): it is set, for this process, its workers and
    its sequencer, to the URL this server prints (``http://localhost:PORT``), and said so.
    Unset on any other address: the name people use is unknown, so it stays unset and
    every mail is refused with a message naming the setting (docs/petitions.md, "Mail")."""
    from tallylog.config import config, host_allowed, reset_config

    if config().site_url:
        log.info("links in mail: %s (TALLYLOG_SITE_URL)", config().site_url)
        return
    if (host == "localhost" or host == "::1" or host.startswith("127.")) and host_allowed("localhost"):
        url = _site_url(host, port).rstrip("/")
        os.environ["TALLYLOG_SITE_URL"] = url
        reset_config()
        log.warning(
            "TALLYLOG_SITE_URL is not set: links in mail point to %s, where this server listens "
            "(fine for a development run; set it to the site's public URL for any other)", url,
        )
        return
    log.warning(
        "TALLYLOG_SITE_URL is not set and this server does not listen on localhost alone: "
        "mail (confirmations, the newsletter) is refused until it is set to the URL people open"
    )


def _raise_open_files_limit(connections: int) -> None:
    """Raise this process's (and so its workers') soft limit on open files to what the
    connections need, within the hard limit; fail with a message when it cannot."""
    import resource

    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    want = connections + 256  # the database, log files, tiles, the sequencer's pipes
    if soft != resource.RLIM_INFINITY and soft < want:
        if hard != resource.RLIM_INFINITY and hard < want:
            raise CLIError(
                f"--workers x --connections needs {want} open files but the hard limit is {hard}: "
                "lower --connections or raise the limit (ulimit -Hn)"
            )
        resource.setrlimit(resource.RLIMIT_NOFILE, (want, hard))


def cmd_serve(args: argparse.Namespace) -> int:
    from granian.constants import HTTPModes, Interfaces
    from granian.http import HTTP1Settings
    from granian.server import Server

    from tallylog.safety.serverlog import ACCESS_LOG_FORMAT, server_logging

    if not 0 < args.port < 65536:
        raise CLIError(f"--port must be 1..65535, not {args.port}")
    if args.workers < 1:
        raise CLIError("--workers must be at least 1")
    if args.threads < 1:
        raise CLIError("--threads must be at least 1")
    if not 0 < args.header_timeout <= 3600:
        raise CLIError(f"--header-timeout must be more than 0 and at most 3600 seconds, not {args.header_timeout:g}")
    if args.connections < args.threads:
        raise CLIError(f"--connections must be at least --threads ({args.threads})")
    _raise_open_files_limit(args.workers * args.connections)
    _check_port_free(args.host, args.port)
    log_services = _ready_log(args)
    _settle_site_url(args.host, args.port)
    from tallylog.web.tools import write_tools

    write_tools(log_services.log_dir)  # this version's auditor's tools, for nginx and mirrors
    if not args.no_sequencer:
        _recover_or_fail(log_services, wait=False)
    from django.conf import settings
    from django.db import connections

    from tallylog.wsgi import application

    static_root = Path(settings.STATIC_ROOT)
    static_root.mkdir(mode=0o700, parents=True, exist_ok=True)
    connections.close_all()  # never share a connection with the forked workers
    supervisor = None if args.no_sequencer else _SequencerSupervisor(str(log_services.home.path))

    class TallylogServer(Server):  # type: ignore[misc,valid-type]
        """granian's server, which starts the sequencer once it listens and has forked its
        workers (so that they are not forked with the supervisor's thread running)."""

        def startup(self, spawn_target: Any, target_loader: Any) -> None:
            super().startup(spawn_target, target_loader)
            log.info(
                "serving on port %s with %d workers: open %s in a browser",
                args.port,
                args.workers,
                _site_url(args.host, args.port),
            )
            if supervisor is not None:
                supervisor.start()

    server = TallylogServer(
        "tallylog.wsgi:application",
        address=args.host,
        port=args.port,
        interface=Interfaces.WSGI,
        http=HTTPModes.http1,
        websockets=False,
        workers=args.workers,
        # Each worker listens on a socket of its own (SO_REUSEPORT) and the kernel spreads
        # new connections over them; each runs the application in this many threads.
        blocking_threads=args.threads,
        # granian's backpressure counts open connections, not requests: a connection holds
        # its permit from accept to close, whether it sends a request or nothing. With the
        # thread count here, 16 idle connections took the whole site (issue 16). Connections
        # are cheap in the Rust side; requests beyond the threads queue for a thread.
        backpressure=args.connections,
        http1_settings=HTTP1Settings(
            # A client that has not sent its whole header in this time is disconnected, and
            # so is a kept-alive connection that sends no next request (hyper times the
            # wait for every request's header, the first and each next one alike).
            header_read_timeout=round(args.header_timeout * 1000),
            keep_alive=True,
            # Headers only (bodies stream): 64 KiB is 16 times the longest target we answer
            # and bounds what a thousand trickling clients can make us hold.
            max_buffer_size=64 * 1024,
        ),
        respawn_failed_workers=True,
        workers_kill_timeout=20,
        log_dictconfig=server_logging(),
        log_access=args.access_log,
        log_access_format=ACCESS_LOG_FORMAT,
        # The admin's files, collected by `tallylog init`, served by granian itself.
        static_path_route=["/static"],
        static_path_mount=[static_root],
        static_path_expires=86400,
    )
    if supervisor is not None:
        server.on_shutdown(supervisor.stop)
    # The workers are forked from this process, which has the application loaded already.
    server.serve(target_loader=lambda _target: application)
    return 0


# -- demo ------------------------------------------------------------------------------


def cmd_demo(args: argparse.Namespace) -> int:
    if args.count < 0 or args.days < 1:
        raise CLIError("--count must be at least 0 and --days at least 1")
    log_services = _ready_log(args)
    from tqdm import tqdm

    from tallylog.home import Home
    from tallylog.registry.campaigns.models import Campaign
    from tallylog.registry.declarations.demo import demo_refusal, fill_demo

    campaign = Campaign.objects.filter(slug=args.campaign).first()
    if campaign is None:
        raise CLIError(f"no campaign {args.campaign!r} (run `tallylog init`)")
    refusal = demo_refusal(Home.from_env(args.home))
    if refusal:
        raise CLIError(refusal)
    from tallylog.registry.entries.lease import LeaseBusy, SequencerLease

    started = time.monotonic()
    try:
        with SequencerLease(log_services.home, wait=False):
            _recover_or_fail(log_services)
            with tqdm(total=args.count, unit="decl", disable=not sys.stderr.isatty()) as bar:
                done = fill_demo(
                    log_services,
                    campaign,
                    count=args.count,
                    days=args.days,
                    seed=args.seed,
                    progress=bar.update,
                )
    except LeaseBusy:
        raise CLIError(
            "a sequencer is running (tallylog serve?): stop it first, the demo sequences its "
            "declarations on past days"
        ) from None
    days = done.days
    where = (
        "on no day" if not days
        else f"on {days[0]}" if len(days) == 1
        else f"on {len(days)} days, {days[0]} to {days[-1]}"
    )
    print(
        f"added {done.added} declarations {where} in {time.monotonic() - started:.1f} s; "
        f"log size {_log_size()}"
        + ("; earlier days went on the log's last day (its days only move forward)" if done.folded else "")
    )
    return 0

