"""Public page reads from PostgreSQL read replicas; everything else from the primary.

``DATABASE_REPLICA_URLS`` (comma-separated postgres:// URLs of hot standbys, e.g. made with
``pg_basebackup -R``) adds the read-only database aliases ``replica1`` … ``replicaN`` beside
``default`` (tallylog/settings.py). Two pieces decide where a query goes:

* :class:`ReplicaReadsMiddleware` (in ``settings.MIDDLEWARE``) opens a per-request scope.
  For a GET or HEAD of a public, lag-tolerant view — the URL names in
  :data:`PUBLIC_READ_VIEWS` — it picks one replica at random for the whole request (so one
  page never mixes two replicas' pasts) after making sure it can connect.
* :class:`ReplicaRouter` (``settings.DATABASE_ROUTERS``) sends a read to that replica only
  when all of these hold: the request chose one; the model belongs to a public app
  (:data:`REPLICA_APPS`: no sessions, users, staff, volunteers or safety data); the request
  has written nothing yet (the first write pins it to the primary); and no atomic block is
  open on ``default`` (a read inside a transaction must see that transaction). Every other
  read, every write and every migration goes to ``default``.

So the primary serves: every POST, the receipt lookup and withdrawal (they must find a
declaration accepted a moment ago), the declare form, petitions' detail and confirmation
pages, the volunteers' console, the admin, the sequencer, and every CLI command (they run
outside any request, where the scope is closed). Migrations run on ``default`` only.
Read-your-writes holds within a request; across requests it holds because no form
redirects to a replica-read view after writing (the declare form shows its receipt
itself; petitions confirm on their own page): keep it so when adding to the list.

A replica trails the primary by its replication lag (normally well under a second on a
LAN; watch ``pg_stat_replication`` on the primary): a public page may show a tally or a
list a moment older than the primary's, on top of the sequencing lag the transparency page
already shows.

A replica that is down is noticed once per request, at connection time: a kept connection
is health-checked (``CONN_HEALTH_CHECKS``), a new one gives up after ``connect_timeout``;
on ``OperationalError`` (any :class:`~django.db.DatabaseError`) the request reads from
another replica or from ``default``, and this process leaves that replica alone for
:data:`RETRY_AFTER` seconds (logged as a warning). A replica that fails *during* a request,
after the check, still fails that request.
"""

from __future__ import annotations

import logging
import random
import re
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import dataclass, field
from typing import Any

from django.db import DEFAULT_DB_ALIAS, DatabaseError, connections
from django.db.models import Model
from django.http import HttpRequest, HttpResponseBase
from django.urls import ResolverMatch

logger = logging.getLogger(__name__)

REPLICA_ALIAS = re.compile(r"replica[1-9][0-9]*")
"""The aliases tallylog/settings.py gives ``DATABASE_REPLICA_URLS``, in order."""

PUBLIC_READ_VIEWS = frozenset(
    {
        # tallylog/web/urls.py
        "web:home",
        "web:campaign",
        "web:declarations",
        "web:campaign_declarations",
        "web:declaration",
        "web:legacy_declaration",
        "web:transparency",
        # tallylog/web/news.py and petitions.py
        "news:list",
        "news:post",
        "news:feed",
        "petitions:list",
        # tallylog/api (django-ninja names a path after its first operation: the GET
        # /campaigns/{slug}/declarations list shares its path, and so its name, with the
        # POST that declares; only GET and HEAD are ever sent to a replica)
        "api:get_log_info",
        "api:list_campaigns",
        "api:get_tally",
        "api:post_declaration",
        "api:get_declaration",
        "api:get_entry",
        "api:list_signatures",
    }
)
"""URL names whose GET/HEAD may read from a replica: public, read-only, lag-tolerant."""

REPLICA_APPS = frozenset({"campaigns", "entries", "declarations", "petitions", "news"})
"""App labels whose models a public read may take from a replica."""

SAFE_METHODS = frozenset({"GET", "HEAD"})
RETRY_AFTER = 10.0
"""Seconds this process leaves a replica alone after it refused a connection."""


@dataclass
class ReadScope:
    """Where one request's reads may go: ``replica`` (an alias) or nowhere but ``default``."""

    replica: str | None = None
    wrote: bool = False


_scope: ContextVar[ReadScope | None] = ContextVar("tallylog_read_scope", default=None)


def replica_aliases() -> list[str]:
    """The configured replica aliases (``replica1`` …), in order."""
    return [alias for alias in connections if REPLICA_ALIAS.fullmatch(alias)]


@dataclass
class ReplicaHealth:
    """Which replicas this process is leaving alone, and until when (monotonic seconds)."""

    down_until: dict[str, float] = field(default_factory=dict)
    failures: dict[str, int] = field(default_factory=dict)
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False)

    def usable(self, alias: str, now: float) -> bool:
        with self._lock:
            return self.down_until.get(alias, 0.0) <= now

    def mark_down(self, alias: str, now: float) -> None:
        with self._lock:
            self.down_until[alias] = now + RETRY_AFTER
            self.failures[alias] = self.failures.get(alias, 0) + 1

    def reset(self) -> None:
        """Forget every failure (tests; a replica known to be back)."""
        with self._lock:
            self.down_until.clear()
            self.failures.clear()


health = ReplicaHealth()


def connect_replica(alias: str) -> bool:
    """Make sure ``alias`` has a working connection; on failure mark it down and say no."""
    conn = connections[alias]
    try:
        conn.close_if_health_check_failed()
        conn.ensure_connection()
    except DatabaseError as exc:
        health.mark_down(alias, time.monotonic())
        conn.close()
        logger.warning("couldn't connect to read replica %s, reading from default for %.0f s: %s", alias, RETRY_AFTER, exc)
        return False
    return True


def choose_replica() -> str | None:
    """A random replica this process can connect to now, or None (read from ``default``)."""
    now = time.monotonic()
    candidates = [alias for alias in replica_aliases() if health.usable(alias, now)]
    random.shuffle(candidates)
    for alias in candidates:
        if connect_replica(alias):
            return alias
    return None


@contextmanager
def read_scope(replica: str | None) -> Iterator[ReadScope]:
    """Reads inside may go to ``replica`` (as :class:`ReplicaRouter` allows); the scope of
    one request, or of a test."""
    scope = ReadScope(replica)
    token = _scope.set(scope)
    try:
        yield scope
    finally:
        _scope.reset(token)


def is_public_read(request: HttpRequest, match: ResolverMatch | None) -> bool:
    """Whether a request may read from a replica: GET/HEAD of a view in PUBLIC_READ_VIEWS."""
    return request.method in SAFE_METHODS and match is not None and match.view_name in PUBLIC_READ_VIEWS


class ReplicaReadsMiddleware:
    """Opens each request's read scope; picks a replica for public reads (module docstring).

    ``settings.MIDDLEWARE``: ``"tallylog.dbrouter.ReplicaReadsMiddleware"``.
    """

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponseBase]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponseBase:
        with read_scope(None):
            return self.get_response(request)

    def process_view(
        self, request: HttpRequest, view_func: Callable[..., Any], view_args: Any, view_kwargs: Any
    ) -> None:
        scope = _scope.get()
        if scope is not None and is_public_read(request, request.resolver_match):
            scope.replica = choose_replica()


class ReplicaRouter:
    """Django database router (``settings.DATABASE_ROUTERS``): see the module docstring."""

    def db_for_read(self, model: type[Model], **hints: Any) -> str:
        scope = _scope.get()
        if (
            scope is None
            or scope.replica is None
            or scope.wrote
            or model._meta.app_label not in REPLICA_APPS
            or connections[DEFAULT_DB_ALIAS].in_atomic_block
        ):
            return DEFAULT_DB_ALIAS
        return scope.replica

    def db_for_write(self, model: type[Model], **hints: Any) -> str:
        scope = _scope.get()
        if scope is not None:
            scope.wrote = True  # read your own writes: the rest of the request reads default
        return DEFAULT_DB_ALIAS

    def allow_relation(self, obj1: Model, obj2: Model, **hints: Any) -> bool | None:
        # Replicas hold the primary's very rows: objects from any of them may be related.
        dbs = {obj1._state.db, obj2._state.db}
        if all(db == DEFAULT_DB_ALIAS or (db and REPLICA_ALIAS.fullmatch(db)) for db in dbs):
            return True
        return None

    def allow_migrate(self, db: str, app_label: str, model_name: str | None = None, **hints: Any) -> bool:
        return db == DEFAULT_DB_ALIAS
