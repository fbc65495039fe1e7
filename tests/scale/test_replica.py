"""Public page reads from read replicas (tallylog/dbrouter.py), everything else from the primary.

Two layers, both on every pass of the suite:

* In-process: the alias ``replica1`` is added beside the test database. On the PostgreSQL
  pass (``scripts/pg-test.sh run``, which sets ``PGTEST_DIR``) it is a real hot standby of
  that server, streaming (``pg-test.sh replica-start``); on the SQLite pass it is a second
  SQLite connection to the test database. Queries are counted per alias while the Django
  test client walks public pages, declares, looks receipts up and signs in as staff.
* End to end: a real ``tallylog serve`` (granian) on a PostgreSQL primary with a streaming
  replica (the pass's server, or one the module starts, as tests/scale/conftest.py does).
  Replay on the replica is paused, so what a page shows tells which server answered.
"""

from __future__ import annotations

import copy
import logging
import os
import re
import secrets
import subprocess
import time
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import psycopg
import pytest
from django.apps import apps
from django.contrib.auth.models import User
from django.contrib.sessions.models import Session
from django.db import DEFAULT_DB_ALIAS, connections, router, transaction
from django.test import Client
from django.test.utils import CaptureQueriesContext
from django.urls import resolve

from tallylog import dbrouter
from tallylog.composition import LogServices, get_log
from tallylog.dbrouter import PUBLIC_READ_VIEWS, ReplicaRouter, health, read_scope
from tallylog.registry.campaigns.models import Campaign
from tallylog.registry.declarations.actions import submit_declaration
from tallylog.registry.declarations.models import Declaration
from tallylog.registry.entries.sequencer import sequence_pending
from tallylog.registry.volunteers.models import Centre
from tests.scale.conftest import PG_TEST, with_database
from tests.support.serverproc import Server, free_port, run_cli, server_env

PATIENCE = 60.0  # a bound against a hung test, not a speed claim
SLUG = "three-withdrawals"
BOTH = ["default", "replica1"]


# -- a streaming replica of a test server (scripts/pg-test.sh) ----------------------------


def _assignments(out: str) -> dict[str, str]:
    return dict(line.split("=", 1) for line in out.splitlines() if "=" in line)


@dataclass
class Standby:
    """A hot standby started by ``pg-test.sh replica-start``."""

    url: str  # its `tallylog` database, as the `tallylog` role
    dir: str

    @classmethod
    def start(cls, primary_dir: str) -> Standby:
        out = subprocess.run(
            ["bash", str(PG_TEST), "replica-start", primary_dir], capture_output=True, text=True
        )
        assert out.returncode == 0, out.stderr
        values = _assignments(out.stdout)
        return cls(values["REPLICA_URL"], values["REPLICA_DIR"])

    @property
    def port(self) -> int:
        return int(Path(self.dir, "port").read_text())

    def admin(self) -> psycopg.Connection[Any]:
        """A superuser session on the standby (trusted over its Unix socket)."""
        return psycopg.connect(host=self.dir, port=self.port, user="postgres", dbname="postgres", autocommit=True)

    def pause(self) -> None:
        """Stop replaying the primary's WAL (it still arrives): the replica shows the past."""
        deadline = time.monotonic() + PATIENCE
        with self.admin() as c:
            c.execute("SELECT pg_wal_replay_pause()")
            # A request first; replay has stopped only once the state says so.
            while c.execute("SELECT pg_get_wal_replay_pause_state()").fetchone() != ("paused",):
                assert time.monotonic() < deadline, "replay on the standby never paused"
                time.sleep(0.02)

    def resume(self) -> None:
        with self.admin() as c:
            c.execute("SELECT pg_wal_replay_resume()")

    def catch_up(self, lsn: str) -> None:
        """Wait until the standby has replayed the primary's WAL up to ``lsn``."""
        deadline = time.monotonic() + PATIENCE
        with self.admin() as c:
            while not c.execute("SELECT pg_last_wal_replay_lsn() >= %s::pg_lsn", (lsn,)).fetchone()[0]:  # type: ignore[index]
                assert time.monotonic() < deadline, f"the standby never replayed up to {lsn}"
                time.sleep(0.02)

    def stop(self) -> None:
        subprocess.run(["bash", str(PG_TEST), "replica-stop", self.dir], check=True)


# The end of what the primary has put into its WAL, committed or not yet written out. Not
# pg_current_wal_lsn(): that is the *written* position, and the pass's server runs with
# synchronous_commit=off, so a commit that has returned may still sit in the WAL buffers
# past it — a standby that replayed up to it could still miss the row.
PRIMARY_LSN = "SELECT pg_current_wal_insert_lsn()"


def primary_lsn(url: str) -> str:
    with psycopg.connect(url, autocommit=True) as c:
        return str(c.execute(PRIMARY_LSN).fetchone()[0])  # type: ignore[index]


def _pass_server() -> str | None:
    """The directory of the pass's own PostgreSQL server (``pg-test.sh run``), if any."""
    url, directory = os.environ.get("DATABASE_URL", ""), os.environ.get("PGTEST_DIR", "")
    return directory if url.startswith(("postgres://", "postgresql://")) and directory else None


@dataclass
class Primary:
    url: str  # its `tallylog` database
    dir: str


@pytest.fixture(scope="module")
def primary() -> Iterator[Primary]:
    """A PostgreSQL server to replicate: the pass's own, or a throwaway one."""
    directory = _pass_server()
    if directory is not None:
        yield Primary(os.environ["DATABASE_URL"], directory)
        return
    out = subprocess.run(["bash", str(PG_TEST), "start"], capture_output=True, text=True, check=True).stdout
    values = _assignments(out)
    try:
        yield Primary(values["DATABASE_URL"], values["PGTEST_DIR"])
    finally:
        subprocess.run(["bash", str(PG_TEST), "stop", values["PGTEST_DIR"]], check=True)


# -- in process: the alias replica1 beside the test database ------------------------------


@dataclass
class ReplicaAlias:
    """``replica1`` in ``connections``: a real standby (PostgreSQL pass) or a second SQLite
    connection to the test database (SQLite pass)."""

    standby: Standby | None

    def catch_up(self) -> None:
        """Wait until what the primary committed is readable on the replica."""
        if self.standby is not None:
            with connections[DEFAULT_DB_ALIAS].cursor() as c:
                c.execute(PRIMARY_LSN)
                self.standby.catch_up(str(c.fetchone()[0]))


def _add_alias(alias: str, settings_dict: dict[str, Any]) -> None:
    # A test mirror: the test runner neither creates nor flushes it.
    settings_dict["TEST"] = {**settings_dict.get("TEST", {}), "MIRROR": DEFAULT_DB_ALIAS}
    connections.settings[alias] = settings_dict


def _drop_alias(alias: str) -> None:
    if alias in connections.settings:
        connections[alias].close()
        del connections[alias]
        del connections.settings[alias]


@contextmanager
def alias_settings(alias: str, settings_dict: dict[str, Any]) -> Iterator[None]:
    """``alias`` configured as ``settings_dict`` for the block (a fresh connection object)."""
    saved = connections.settings.get(alias)
    _drop_alias(alias)
    _add_alias(alias, settings_dict)
    try:
        yield
    finally:
        _drop_alias(alias)
        if saved is not None:
            connections.settings[alias] = saved


@pytest.fixture(scope="module")
def replica(django_db_setup: None, django_db_blocker: Any) -> Iterator[ReplicaAlias]:
    default = copy.deepcopy(connections[DEFAULT_DB_ALIAS].settings_dict)
    pass_dir = _pass_server()
    standby = None
    if default["ENGINE"] == "django.db.backends.postgresql" and pass_dir is not None:
        standby = Standby.start(pass_dir)
        default.update(HOST="127.0.0.1", PORT=str(standby.port), CONN_HEALTH_CHECKS=True)
    _add_alias("replica1", default)
    try:
        yield ReplicaAlias(standby)
    finally:
        _drop_alias("replica1")
        health.reset()
        if standby is not None:
            standby.stop()


@pytest.fixture
def fresh_health() -> Iterator[None]:
    health.reset()
    yield
    health.reset()


@contextmanager
def queries() -> Iterator[dict[str, CaptureQueriesContext]]:
    """The queries run on each of default and replica1 inside the block."""
    with ExitStack() as stack:
        yield {alias: stack.enter_context(CaptureQueriesContext(connections[alias])) for alias in BOTH}


def sqls(captured: CaptureQueriesContext) -> list[str]:
    return [q["sql"] for q in captured.captured_queries]


@pytest.fixture
def client() -> Client:
    return Client(HTTP_ACCEPT_LANGUAGE="en")


@pytest.fixture
def published(log: LogServices, campaign: Campaign) -> Declaration:
    """One declaration, sequenced into the log (on the primary, outside any request)."""
    submission = submit_declaration(campaign, alias="Lin", orgs=["party"])
    sequence_pending(get_log(), batch_size=100)
    return Declaration.objects.get(pk=submission.declaration.pk)


def public_paths(d: Declaration) -> list[str]:
    index = d.log_index if d.entry_id is not None else 0  # the public id (issue 15)
    return [
        "/",
        f"/c/{SLUG}/",
        "/declarations/",
        f"/c/{SLUG}/declarations/",
        f"/entries/{index}/",
        "/transparency/",
        "/news/",
        "/news/feed.atom",
        "/petitions/",
        "/api/v1/log",
        "/api/v1/campaigns",
        f"/api/v1/campaigns/{SLUG}/tally",
        f"/api/v1/campaigns/{SLUG}/declarations",
        f"/api/v1/entries/{index}",
    ]


def test_every_public_read_view_name_resolves_from_a_real_path() -> None:
    names = {resolve(p).view_name for p in public_paths(Declaration(pk=1))}
    names |= {resolve("/news/some-post/").view_name, resolve(f"/api/v1/campaigns/{SLUG}/signatures").view_name}
    # The old URLs by database id (declarations made before issue 15).
    names |= {resolve("/declarations/1/").view_name, resolve("/api/v1/declarations/1").view_name}
    assert names == PUBLIC_READ_VIEWS
    # Never: declaring, receipts, withdrawal, petitions' detail and confirmation, staff.
    for path in ("/declare/", "/receipt/", "/withdraw/", "/petitions/p/", "/petitions/confirm/t/", "/console/", "/admin/", "/api/v1/receipts/x", "/log/checkpoint"):
        assert resolve(path).view_name not in PUBLIC_READ_VIEWS, path


@pytest.mark.django_db(transaction=True, databases=BOTH)
def test_public_pages_read_only_from_the_replica(
    replica: ReplicaAlias, published: Declaration, client: Client, fresh_health: None
) -> None:
    replica.catch_up()
    read_nothing = set()
    for path in public_paths(published):
        # HEAD too, where the view answers it (the API answers GET only).
        for method in (client.get,) if path.startswith("/api/") else (client.get, client.head):
            with queries() as q:
                response = method(path)
            assert response.status_code == 200, (path, response.content[:300])
            assert sqls(q["default"]) == [], (path, sqls(q["default"]))
            if not q["replica1"]:
                read_nothing.add(path)
    # Every public page reads the replica, /api/v1/log included: its checkpoint comes from
    # the log's files, its witnesses (issue 14) from the database.
    assert read_nothing == set()
    # The connection those pages used is the replica's: a hot standby on PostgreSQL.
    with connections["replica1"].cursor() as c:
        if replica.standby is not None:
            c.execute("SELECT pg_is_in_recovery()")
            assert c.fetchone() == (True,)
        else:
            assert connections["replica1"].connection is not connections["default"].connection
    # And what they showed is the primary's state, once replayed.
    index = Declaration.objects.using("default").select_related("entry").get(pk=published.pk).log_index
    assert client.get(f"/api/v1/entries/{index}").json()["index"] == index
    assert client.get(f"/api/v1/campaigns/{SLUG}/tally").json()["total"] == 1


@pytest.mark.django_db(transaction=True, databases=BOTH)
def test_a_declaration_is_found_by_its_receipt_at_once_from_the_primary(
    replica: ReplicaAlias, log: LogServices, campaign: Campaign, client: Client, fresh_health: None
) -> None:
    with queries() as q:
        made = client.post(
            f"/api/v1/campaigns/{SLUG}/declarations", {"alias": "Wang", "orgs": ["league"]}, content_type="application/json"
        )
        assert made.status_code == 201, made.content
        code = made.json()["receipt"]
        found = client.post("/api/v1/receipts", {"code": code}, content_type="application/json")
        assert found.status_code == 200, found.content
        assert found.json()["status"] == made.json()["status"] and found.json()["id"] is None
        assert client.get(f"/api/v1/receipts/{code}").json() == found.json()
        page = client.post("/receipt/", {"code": code})
        assert page.status_code == 200
        assert client.get("/withdraw/").status_code == 200
        assert client.get("/declare/").status_code == 200
    assert sqls(q["replica1"]) == []
    # Written to the primary (the API's group commit writes on its own connection to
    # ``default``, which this context does not capture: look for the row there instead).
    assert Declaration.objects.using("default").filter(alias="Wang").exists()


@pytest.mark.django_db(transaction=True, databases=BOTH)
def test_writes_and_the_sequencer_never_touch_the_replica(
    replica: ReplicaAlias, log: LogServices, campaign: Campaign, client: Client, fresh_health: None
) -> None:
    with queries() as q:
        for alias in ("Chen", "Zhao"):
            response = client.post(
                f"/api/v1/campaigns/{SLUG}/declarations", {"alias": alias, "orgs": ["party"]}, content_type="application/json"
            )
            assert response.status_code == 201
        token = re.search(r'name="token" value="([^"]+)"', client.get("/declare/").content.decode()).group(1)  # type: ignore[union-attr]
        assert b'class="receipt"' in client.post("/declare/", {"alias": "Li", "orgs": ["pioneers"], "token": token}).content
        assert sequence_pending(get_log(), batch_size=100) == 3
    assert sqls(q["replica1"]) == []
    replica.catch_up()
    paths = public_paths(Declaration.objects.published().first())  # type: ignore[arg-type]
    with queries() as q:
        for path in paths:
            assert client.get(path).status_code == 200
    assert sqls(q["default"]) == []
    assert sqls(q["replica1"]) and all(sql.lstrip().upper().startswith("SELECT") for sql in sqls(q["replica1"]))


@pytest.mark.django_db(transaction=True, databases=BOTH)
def test_staff_pages_and_signed_in_sessions_read_the_primary(
    replica: ReplicaAlias, published: Declaration, client: Client, fresh_health: None
) -> None:
    staff = User.objects.create_user("moderator", password="pw", is_staff=True, is_superuser=True)
    client.force_login(staff)
    replica.catch_up()
    with queries() as q:
        assert client.get("/admin/").status_code == 200
        client.get("/console/")
    assert sqls(q["replica1"]) == []
    # A signed-in reader of a public page: its public rows from the replica, never the
    # session or the user (the router keeps those on the primary: the test below).
    with queries() as q:
        assert client.get("/declarations/").status_code == 200
    assert not any("django_session" in sql or "auth_user" in sql for sql in sqls(q["replica1"]))
    assert any("declarations_declaration" in sql for sql in sqls(q["replica1"]))


@pytest.mark.django_db(transaction=True, databases=BOTH)
def test_the_router_sends_to_the_replica_only_public_reads_outside_transactions_before_any_write(
    replica: ReplicaAlias, campaign: Campaign
) -> None:
    r = ReplicaRouter()
    assert r.db_for_read(Declaration) == "default"  # outside any request's scope: CLI, sequencer
    with read_scope(None):
        assert r.db_for_read(Declaration) == "default"  # a request that is not a public read
    with read_scope("replica1") as scope:
        assert r.db_for_read(Declaration) == "replica1"
        assert r.db_for_read(Campaign) == "replica1"
        for private in (Session, User, Centre):
            assert r.db_for_read(private) == "default", private
        with transaction.atomic():
            assert r.db_for_read(Declaration) == "default"
        assert r.db_for_read(Declaration) == "replica1"
        assert r.db_for_write(Declaration) == "default"
        assert scope.wrote
        assert r.db_for_read(Declaration) == "default"  # read your own writes
    # Through the ORM: the same decisions.
    replica.catch_up()
    with read_scope("replica1"), queries() as q:
        assert Campaign.objects.filter(slug=SLUG).exists()
        with transaction.atomic():
            Campaign.objects.filter(slug=SLUG).exists()
        Session.objects.count()
        User.objects.count()
    assert len(q["replica1"]) == 1 and "campaigns_campaign" in sqls(q["replica1"])[0]
    assert [t for t in ("campaigns_campaign", "django_session", "auth_user") if any(t in sql for sql in sqls(q["default"]))] == [
        "campaigns_campaign",
        "django_session",
        "auth_user",
    ]


def test_migrations_run_on_the_primary_only() -> None:
    r = ReplicaRouter()
    for model in apps.get_models():
        label, name = model._meta.app_label, model._meta.model_name
        assert r.allow_migrate("default", label, name) is True
        assert r.allow_migrate("replica1", label, name) is False
        assert r.allow_migrate("replica12", label, name) is False
    assert "tallylog.dbrouter.ReplicaRouter" in [
        f"{type(x).__module__}.{type(x).__name__}" for x in router.routers
    ]


def _unreachable(engine: str) -> dict[str, Any]:
    """A replica nobody can connect to."""
    settings_dict = copy.deepcopy(connections[DEFAULT_DB_ALIAS].settings_dict)
    if engine == "django.db.backends.postgresql":
        settings_dict.update(HOST="127.0.0.1", PORT=str(free_port()))  # nothing listens
    else:
        settings_dict.update(NAME="/nonexistent-tallylog-dir/replica.sqlite3")
    return settings_dict


@pytest.mark.django_db(transaction=True, databases=BOTH)
def test_a_replica_that_is_down_falls_back_to_the_primary(
    replica: ReplicaAlias, published: Declaration, client: Client, fresh_health: None, caplog: pytest.LogCaptureFixture
) -> None:
    engine = connections[DEFAULT_DB_ALIAS].settings_dict["ENGINE"]
    with alias_settings("replica1", _unreachable(engine)):
        with caplog.at_level(logging.WARNING, logger="tallylog.dbrouter"), CaptureQueriesContext(
            connections[DEFAULT_DB_ALIAS]
        ) as on_default:
            for path in public_paths(published):
                response = client.get(path)
                assert response.status_code == 200, path
        assert len(on_default) > 0
        assert connections["replica1"].connection is None
        assert health.failures["replica1"] >= 1
        assert "couldn't connect to read replica replica1" in caplog.text
    health.reset()
    replica.catch_up()
    with queries() as q:
        assert client.get("/declarations/").status_code == 200  # back: reads go to it again
    assert sqls(q["default"]) == [] and len(q["replica1"]) > 0


def test_a_request_picks_a_replica_that_answers(
    replica: ReplicaAlias, fresh_health: None, django_db_blocker: Any
) -> None:
    engine = connections[DEFAULT_DB_ALIAS].settings_dict["ENGINE"]
    # Connections only, no queries: outside a test case, so that replica2 may be made here.
    with django_db_blocker.unblock(), alias_settings("replica2", _unreachable(engine)):
        assert dbrouter.replica_aliases() == ["replica1", "replica2"]
        assert {dbrouter.choose_replica() for _ in range(20)} == {"replica1"}
        assert health.failures == {"replica2": 1}
        assert not health.usable("replica2", time.monotonic())
        assert health.usable("replica1", time.monotonic())


# -- end to end: tallylog serve on a primary with a streaming replica ------------------------


@pytest.fixture
def standby(primary: Primary) -> Iterator[Standby]:
    s = Standby.start(primary.dir)
    try:
        yield s
    finally:
        if Path(s.dir).exists():
            s.stop()


@dataclass
class Site:
    home: Path
    env: dict[str, str]
    server: Server
    primary_url: str

    def cli(self, *args: str) -> subprocess.CompletedProcess[str]:
        return run_cli(self.home, *args, env=self.env)

    def declare(self, alias: str) -> dict[str, Any]:
        response = self.server.post(f"/api/v1/campaigns/{SLUG}/declarations", {"alias": alias, "orgs": ["party"]})
        assert response.status == 201, response.text
        return response.json()  # type: ignore[no-any-return]

    def sequence(self) -> None:
        done = self.cli("sequence", "--once")
        assert done.returncode == 0, done.stderr


@pytest.fixture
def site(primary: Primary, standby: Standby, tmp_path: Path) -> Iterator[Site]:
    """``tallylog serve --no-sequencer`` on a fresh database, replica1 = the standby."""
    name = f"replica_{secrets.token_hex(4)}"
    with psycopg.connect(primary.url, autocommit=True) as admin:
        admin.execute(f'CREATE DATABASE "{name}"')
    db_url = with_database(primary.url, name)
    home = tmp_path / "home"
    env = {"DATABASE_URL": db_url, "DATABASE_REPLICA_URLS": with_database(standby.url, name)}
    # Migrations with the replica configured: a write there would fail (it is read-only).
    init = run_cli(home, "init", "--origin", "example.org/replica", env=server_env(home, **env))
    assert init.returncode == 0, init.stderr
    standby.catch_up(primary_lsn(db_url))
    server = Server(home, tmp_path / "logs", env_extra=env, args=("--no-sequencer",))
    try:
        server.start()
        yield Site(home, server_env(home, **env), server, db_url)
    finally:
        server.stop()
        with psycopg.connect(primary.url, autocommit=True) as admin:
            admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


@pytest.mark.server
def test_pages_read_the_replica_and_receipts_the_primary(site: Site, standby: Standby) -> None:
    standby.pause()  # from now on the replica shows the past: what a page shows tells who answered
    made = site.declare("Lin")
    site.sequence()
    # The receipt lookup and the list of the declarant's own entry: the primary, at once.
    found = site.server.post("/api/v1/receipts", {"code": made["receipt"]})
    assert found.status == 200, found.text
    assert (found.json()["id"], found.json()["status"], found.json()["index"]) == (None, "published", 0)
    receipt_page = site.server.get(f"/api/v1/receipts/{made['receipt']}")
    assert receipt_page.json()["index"] == 0
    # Public reads: the paused replica, which has not seen it.
    assert site.server.get("/api/v1/entries/0").status == 404
    assert site.server.get("/entries/0/").status == 404
    assert site.server.get(f"/api/v1/campaigns/{SLUG}/tally").json()["total"] == 0
    assert site.server.get(f"/api/v1/campaigns/{SLUG}/declarations").json()["items"] == []
    assert site.server.get("/").status == 200
    # Replayed: the same pages show it.
    standby.resume()
    standby.catch_up(primary_lsn(site.primary_url))
    assert site.server.get("/api/v1/entries/0").json()["index"] == 0
    assert site.server.get("/entries/0/").status == 200
    assert site.server.get(f"/api/v1/campaigns/{SLUG}/tally").json()["total"] == 1


@pytest.mark.server
def test_a_replica_that_is_down_leaves_every_page_served_by_the_primary(site: Site, standby: Standby) -> None:
    site.declare("Lin")
    site.sequence()
    standby.catch_up(primary_lsn(site.primary_url))
    assert site.server.get("/api/v1/entries/0").status == 200
    standby.stop()  # with the web workers' kept connections to it

    site.declare("Wang")  # writes never needed it
    site.sequence()
    for _ in range(4):  # both workers, several threads
        assert site.server.get("/api/v1/entries/1").json()["index"] == 1
        assert site.server.get(f"/api/v1/campaigns/{SLUG}/tally").json()["total"] == 2
        for path in ("/", "/declarations/", "/entries/1/", "/transparency/", "/news/", "/petitions/"):
            response = site.server.get(path)
            assert response.status == 200, (path, response.status, site.server.stderr_tail())
    assert "couldn't connect to read replica replica1" in site.server.stderr_tail()
    # Migrations never connect to a replica: they run with this one down.
    again = site.cli("init", "--origin", "example.org/replica")
    assert again.returncode == 0, again.stderr
