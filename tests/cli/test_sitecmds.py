"""The site commands as an operator runs them: subprocesses of ``python -m tallylog.cli``
on a temporary home."""

from __future__ import annotations

import itertools
import os
import signal
import socket
import sqlite3
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest

CLI = [sys.executable, "-m", "tallylog.cli"]


def env() -> dict[str, str]:
    """The production settings, nothing inherited from the test run."""
    # DATABASE_URL dropped: each command runs on its own home's embedded SQLite database
    # (under `make test`'s PostgreSQL pass, the server's database is the test suite's own).
    e = {
        k: v
        for k, v in os.environ.items()
        if k not in ("DJANGO_SETTINGS_MODULE", "TALLYLOG_HOME", "DATABASE_URL")
    }
    e["PYTHONPATH"] = os.pathsep.join(
        p for p in (str(Path(__file__).resolve().parents[2]), os.environ.get("PYTHONPATH", "")) if p
    )
    e["TALLYLOG_PUBLISH_INTERVAL"] = "0"  # publish at once (tests/settings.py's value)
    return e


def run(*args: str, check: bool = True, extra_env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    result = subprocess.run([*CLI, *args], env={**env(), **(extra_env or {})}, capture_output=True, text=True, timeout=300)
    if check and result.returncode != 0:
        raise AssertionError(f"tallylog {' '.join(args)} failed:\n{result.stdout}\n{result.stderr}")
    return result


def query(home: Path, sql: str) -> list[tuple]:
    with sqlite3.connect(home / "db.sqlite3") as db:
        return db.execute(sql).fetchall()


def wait_for(predicate, what: str, limit: float = 60.0) -> None:  # type: ignore[no-untyped-def]
    """Poll until ``predicate()`` is true (a bounded wait, not a timing assertion)."""
    deadline = time.monotonic() + limit
    while not predicate():
        if time.monotonic() > deadline:
            raise AssertionError(f"gave up waiting for {what}")
        time.sleep(0.1)


@pytest.mark.server
def test_init_is_idempotent(tmp_path: Path) -> None:
    home = tmp_path / "home"
    first = run("init", "--home", str(home), "--origin", "example.org/init-test")
    vkey = first.stdout.strip().splitlines()[-1].removeprefix("verifier key: ")
    assert vkey.startswith("example.org/init-test+")
    secrets = (home / "secrets.json").read_bytes()
    key = (home / "signing.key").read_bytes()
    assert oct((home / "signing.key").stat().st_mode & 0o777) == "0o600"
    second = run("init", "--home", str(home))
    assert second.stdout.strip().splitlines()[-1] == f"verifier key: {vkey}"
    assert "kept" in second.stdout
    assert (home / "secrets.json").read_bytes() == secrets and (home / "signing.key").read_bytes() == key
    assert query(home, "select slug, policy from campaigns_campaign") == [("three-withdrawals", "auto")]
    assert sorted(query(home, "select code from campaigns_organisation")) == [("league",), ("party",), ("pioneers",)]
    other = run("init", "--home", str(home), "--origin", "example.org/another", check=False)
    assert other.returncode != 0 and "origin never changes" in other.stderr


def private_to_owner(home: Path) -> list[str]:
    """Paths under ``home`` that its owner's group or other users may read, write or enter
    (the log, public, is reached only through the home)."""
    return [
        f"{p} {oct(p.stat().st_mode & 0o777)}"
        for p in [home, *home.rglob("*")]
        if p.stat().st_mode & 0o077 and (home / "log") not in p.parents
    ]


@pytest.mark.server
def test_init_makes_the_home_private(tmp_path: Path) -> None:
    # Issue 15 item 9: db.sqlite3 was 0644 in a 0755 home (sessions, password hashes).
    fresh = tmp_path / "fresh"
    run("init", "--home", str(fresh))
    run("sequence", "--once", "--home", str(fresh))
    assert (fresh / "db.sqlite3").exists()
    assert private_to_owner(fresh) == []
    # A home made before: opened up, then `tallylog init` closes it again, saying so.
    os.chmod(fresh, 0o755)
    for name in ("db.sqlite3", "secrets.json"):
        os.chmod(fresh / name, 0o644)
    again = run("init", "--home", str(fresh))
    assert f"made private: {fresh / 'db.sqlite3'}" in again.stdout
    assert oct(fresh.stat().st_mode & 0o777) == "0o700"
    for name in ("db.sqlite3", "secrets.json", "signing.key"):
        assert oct((fresh / name).stat().st_mode & 0o777) == "0o600", name


@pytest.mark.server
def test_serve_refuses_a_database_other_users_can_read(tmp_path: Path) -> None:
    home = tmp_path / "home"
    run("init", "--home", str(home))
    os.chmod(home, 0o755)
    os.chmod(home / "db.sqlite3", 0o644)
    result = run("sequence", "--once", "--home", str(home), check=False)
    assert result.returncode != 0
    assert "tallylog.E005" in result.stderr and "db.sqlite3" in result.stderr
    assert "Traceback" not in result.stderr


@pytest.mark.server
def test_commands_refuse_an_uninitialised_home(tmp_path: Path) -> None:
    for command in ("sequence", "serve", "demo"):
        result = run(command, "--home", str(tmp_path / "nothing"), check=False)
        assert result.returncode != 0
        assert "tallylog.E001" in result.stderr and "tallylog init" in result.stderr
        assert "Traceback" not in result.stderr
    # Secrets but no signing key.
    from tallylog.home import Home

    Home.from_env(tmp_path / "half").ensure()
    result = run("sequence", "--once", "--home", str(tmp_path / "half"), check=False)
    assert result.returncode != 0
    assert "tallylog.E002" in result.stderr and "Traceback" not in result.stderr


@pytest.mark.server
@pytest.mark.parametrize(
    ("name", "value", "check"),
    [
        ("TALLYLOG_SEQUENCER_BATCH", "lots", "tallylog.E004"),
        ("DATABASE_URL", "mysql://tl:hunter2@db.internal/tally", "tallylog.E010"),
        ("TALLYLOG_EMAIL_PORT", "smtp", "tallylog.E011"),
        ("TALLYLOG_HSTS_SECONDS", "1y", "tallylog.E015"),
        ("TALLYLOG_CONSOLE_IDLE_SECONDS", "30m", "tallylog.E016"),
    ],
)
def test_a_bad_setting_is_refused_by_its_check_not_a_traceback(tmp_path: Path, name: str, value: str, check: str) -> None:
    from tallylog.composition import ensure_signing_key
    from tallylog.home import Home

    home = Home.from_env(tmp_path / "home")
    home.ensure()
    ensure_signing_key(home)
    commands = [("sequence", "--once"), ("serve",), ("demo", "--count", "1")] if name == "TALLYLOG_SEQUENCER_BATCH" else [("sequence", "--once")]
    for command in commands:
        result = run(*command, "--home", str(home.path), check=False, extra_env={name: value})
        assert result.returncode == 1, result.stderr
        assert f"tallylog {command[0]}: {check}: {name} " in result.stderr
        assert "Traceback" not in result.stderr and "hunter2" not in result.stderr
    assert not home.db_path.exists()  # refused before touching any database


@pytest.mark.server
def test_demo_then_sequence_once(tmp_path: Path) -> None:
    home = tmp_path / "home"
    run("init", "--home", str(home))
    result = run("demo", "--home", str(home), "--count", "300", "--days", "5", "--seed", "7")
    assert "added 300 declarations" in result.stdout
    assert (home / "DEMONSTRATION").exists()  # an empty home becomes a demonstration home
    assert query(home, "select size from entries_logstate") == [(300,)]
    days = query(home, "select day, start, end from entries_logday order by day")
    assert len(days) == 5 and days[0][1] == 0 and days[-1][2] == 300
    assert all(a[2] == b[1] for a, b in itertools.pairwise(days))
    assert query(home, "select count from entries_tallycount where dimension = 'total'") == [(300,)]
    aliases = [a for (a,) in query(home, "select alias from declarations_declaration limit 50")]
    assert all(aliases) and any(ord(c) > 0x4E00 for a in aliases for c in a)
    again = run("sequence", "--once", "--home", str(home))
    assert "sequenced 0 entries; log size 300" in again.stdout
    checkpoint = (home / "log" / "checkpoint").read_text().splitlines()
    assert checkpoint[1] == "300"


def submit_through_the_orm(home: Path, alias: str) -> None:
    """A declaration as the site takes one: through the ORM, in another process."""
    script = (
        "import django; django.setup()\n"
        "from tallylog.registry.campaigns.models import Campaign\n"
        "from tallylog.registry.declarations.actions import submit_declaration\n"
        f"submit_declaration(Campaign.objects.get(slug='three-withdrawals'), alias={alias!r}, orgs=['party'])\n"
    )
    subprocess.run(
        [sys.executable, "-c", script],
        env={**env(), "TALLYLOG_HOME": str(home), "DJANGO_SETTINGS_MODULE": "tallylog.settings"},
        check=True,
        timeout=60,
    )


@pytest.mark.server
def test_demo_refuses_a_home_with_real_data(tmp_path: Path) -> None:
    # Issue 15 item 8: `tallylog demo` silently appended 3,000 fake entries to a real log.
    home = tmp_path / "home"
    run("init", "--home", str(home))
    submit_through_the_orm(home, "真的")
    run("sequence", "--once", "--home", str(home))
    checkpoint = (home / "log" / "checkpoint").read_bytes()
    for command in (["demo", "--count", "30"], ["init", "--demo"]):
        result = run(*command, "--home", str(home), check=False)
        assert result.returncode == 1, command
        assert "not a demonstration home" in result.stderr and "1 log entries, 1 declarations" in result.stderr
        assert "tallylog init --demo --home DIR" in result.stderr and "Traceback" not in result.stderr
    assert query(home, "select size from entries_logstate") == [(1,)]
    assert query(home, "select count(*) from declarations_declaration") == [(1,)]
    assert (home / "log" / "checkpoint").read_bytes() == checkpoint
    assert not (home / "DEMONSTRATION").exists()


@pytest.mark.server
def test_demo_home_says_so_and_what_demo_did(tmp_path: Path) -> None:
    home = tmp_path / "home"
    init = run("init", "--demo", "--home", str(home))
    assert "demonstration home" in init.stdout and (home / "DEMONSTRATION").exists()
    first = run("demo", "--home", str(home), "--count", "40", "--days", "4", "--seed", "3")
    days = [d for (d,) in query(home, "select day from entries_logday order by day")]
    assert len(days) == 4
    assert f"added 40 declarations on 4 days, {days[0]} to {days[-1]} in " in first.stdout
    assert "earlier days" not in first.stdout
    # Again: the log's days only move forward, so everything goes on its last day, and it says so.
    again = run("demo", "--home", str(home), "--count", "40", "--days", "4", "--seed", "4")
    assert f"added 40 declarations on {days[-1]} in " in again.stdout
    assert "earlier days went on the log's last day" in again.stdout
    assert query(home, "select size from entries_logstate") == [(80,)]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def get(url: str) -> int:
    try:
        with urllib.request.urlopen(url, timeout=10) as response:
            return response.status
    except OSError:
        return 0


def processes_mentioning(text: str) -> list[int]:
    found = []
    for proc in Path("/proc").iterdir():
        if proc.name.isdigit():
            try:
                if text.encode() in (proc / "cmdline").read_bytes():
                    found.append(int(proc.name))
            except OSError:
                continue
    return found


def listening_sockets(port: int) -> int:
    """TCP sockets in LISTEN state on ``port`` (any address), from /proc/net/tcp{,6}."""
    count = 0
    for table in ("/proc/net/tcp", "/proc/net/tcp6"):
        for line in Path(table).read_text().splitlines()[1:]:
            fields = line.split()
            if int(fields[1].rsplit(":", 1)[1], 16) == port and fields[3] == "0A":
                count += 1
    return count


@pytest.mark.server
@pytest.mark.slow
def test_serve_serves_and_sequences(tmp_path: Path) -> None:
    home = tmp_path / "home"
    run("init", "--home", str(home))
    port = free_port()
    server = subprocess.Popen(
        [*CLI, "serve", "--home", str(home), "--port", str(port), "--workers", "2", "--access-log"],
        env=env(),
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    try:
        base = f"http://127.0.0.1:{port}"
        wait_for(lambda: get(f"{base}/admin/login/") == 200 or server.poll() is not None, "the server")
        assert server.poll() is None
        assert get(f"{base}/api/v1/openapi.json") == 200
        assert get(f"{base}/") == 200
        # An entry created through the ORM, in another process, is sequenced by the server's sequencer.
        submit_through_the_orm(home, "服务器测试")
        checkpoint = home / "log" / "checkpoint"
        wait_for(
            lambda: checkpoint.exists() and checkpoint.read_text().splitlines()[1] == "1",
            "the entry to be sequenced",
        )
        assert query(home, "select log_index from entries_logentry") == [(0,)]
        assert len(processes_mentioning(f"{home}")) >= 2  # the master and its sequencer (and workers)
        # Each worker listens on a socket of its own, among which the kernel spreads clients.
        assert listening_sockets(port) == 2
        # A second server on the same port fails at once, saying why.
        second = subprocess.run(
            [*CLI, "serve", "--home", str(home), "--port", str(port), "--no-sequencer"],
            env=env(), capture_output=True, text=True, timeout=60,
        )
        assert second.returncode == 1
        assert f"cannot listen on 127.0.0.1 port {port}: Address already in use" in second.stderr
        assert get(f"{base}/api/v1/openapi.json") == 200  # the first one still serves
        # The admin's stylesheet, collected by init, served at /static/ (it was a 404).
        assert get(f"{base}/static/admin/css/base.css") == 200
    finally:
        server.send_signal(signal.SIGTERM)
        output, _ = server.communicate(timeout=60)
    assert server.returncode == 0, output
    assert "GET /admin/login/" in output
    assert f"serving on port {port} with 2 workers: open http://localhost:{port}/ in a browser" in output
    for line in output.splitlines():
        if "GET /" in line:
            assert "127.0.0.1" not in line, line
    wait_for(lambda: not processes_mentioning(str(home)), "every server process to exit", limit=30)


def test_every_site_command_and_option_is_documented() -> None:
    import argparse

    from tallylog.cli import build_parser

    doc = (Path(__file__).resolve().parents[2] / "docs" / "operating.md").read_text()
    parser = build_parser()
    sub = next(a for a in parser._actions if isinstance(a, argparse._SubParsersAction))
    for name in ("init", "serve", "sequence", "demo"):
        assert f"tallylog {name}" in doc, name
        for action in sub.choices[name]._actions:
            for option in action.option_strings:
                if option.startswith("--") and action.help != argparse.SUPPRESS and option != "--help":
                    assert option in doc, f"{name} {option}"
    for setting in ("TALLYLOG_SEQUENCER_BATCH", "TALLYLOG_SEQUENCER_INTERVAL", "TALLYLOG_ORIGIN", "TALLYLOG_HOME"):
        assert setting in doc, setting
