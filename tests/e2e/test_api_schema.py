"""Hostile input against the JSON API: Schemathesis over /api/v1/openapi.json (issue 7, item 6).

The real server (``tallylog serve``) gets generated requests for every operation of its
OpenAPI schema — valid ones and ones that break the schema. No answer may be a 5xx, and
every answer must match the schema (status code documented, body valid, content type),
4xx answers carrying the ``{"error": {"code", "message"}}`` body. Requests come from many
loopback addresses so the per-source rate limits leave room for the generated cases.
"""

from __future__ import annotations

import itertools
import random
from collections.abc import Iterator
from urllib.parse import unquote_to_bytes

import pytest
import requests
import schemathesis
from hypothesis import HealthCheck, given, settings
from hypothesis.errors import Unsatisfiable
from requests.adapters import HTTPAdapter
from schemathesis import GenerationMode
from schemathesis.checks import positive_data_acceptance

from tallylog.safety.middleware import MAX_TARGET
from tests.support.serverproc import Server, init_home

pytestmark = [pytest.mark.slow, pytest.mark.server]

EXAMPLES = 40  # per operation and mode
SENT: dict[str, int] = {}  # requests sent, by operation
_sources = itertools.cycle(f"127.95.{a}.{b}" for a in range(1, 9) for b in range(2, 250))


class SourceAdapter(HTTPAdapter):
    """Sends from a chosen loopback address."""

    def __init__(self, source: str) -> None:
        self.source = source
        super().__init__()

    def init_poolmanager(self, *args, **kwargs):  # type: ignore[no-untyped-def]
        kwargs["source_address"] = (self.source, 0)
        return super().init_poolmanager(*args, **kwargs)


@pytest.fixture(scope="module")
def live(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    base = tmp_path_factory.mktemp("schema")
    init_home(base / "home")
    server = Server(base / "home", base / "logs")
    server.start()
    # Something to look up: a declaration and its receipt.
    server.post("/api/v1/campaigns/three-withdrawals/declarations", {"alias": "样本", "orgs": ["party"]})
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture(scope="module")
def api_schema(live: Server):
    return schemathesis.openapi.from_url(f"http://127.0.0.1:{live.port}/api/v1/openapi.json")


def check_operation(operation, mode: GenerationMode, examples: int) -> None:
    """Generated requests for one operation: no 5xx, answers that match the schema."""

    @given(case=operation.as_strategy(generation_mode=mode))
    @settings(max_examples=examples, deadline=None, database=None, suppress_health_check=list(HealthCheck))
    def run(case) -> None:
        session = requests.Session()
        session.mount("http://", SourceAdapter(next(_sources)))
        if target_length(case) > MAX_TARGET:
            # Refused before any view: a 414 the schema does not list, with a JSON error.
            response = case.call(session=session, timeout=30)
            SENT[operation.label] = SENT.get(operation.label, 0) + 1
            assert response.status_code == 414
            assert response.json()["error"]["code"] == "uri_too_long"
            return
        response = case.call_and_validate(session=session, timeout=30, excluded_checks=[positive_data_acceptance])
        SENT[operation.label] = SENT.get(operation.label, 0) + 1
        assert response.status_code < 500
        if 400 <= response.status_code < 500:
            error = response.json()["error"]
            assert isinstance(error["code"], str) and error["code"]
            assert isinstance(error["message"], str) and error["message"]

    run()


def target_length(case) -> int:
    """The length of the target ``case`` sends as the middleware counts it (``MAX_TARGET``):
    the path decoded to bytes, then ``?`` and the query as sent."""
    kwargs = case.as_transport_kwargs(base_url="http://127.0.0.1")
    prepared = requests.Request(
        method=kwargs["method"], url=kwargs["url"], params=kwargs.get("params")
    ).prepare()
    path, _, query = prepared.path_url.partition("?")
    return len(unquote_to_bytes(path)) + (len(query) + 1 if query else 0)


def test_api_conforms_and_never_fails(live: Server, api_schema):
    """Every operation, with schema-valid and schema-breaking input (the pytest plugin's
    lazy loader does not run on this pytest, so operations are driven here)."""
    operations = [result.ok() for result in api_schema.get_all_operations()]
    assert len(operations) >= 7
    failures = []
    for operation in operations:
        for mode in (GenerationMode.POSITIVE, GenerationMode.NEGATIVE):
            try:
                check_operation(operation, mode, EXAMPLES)
            except Unsatisfiable:
                continue  # nothing in this operation can break its schema (no parameters, no body)
            except (Exception, BaseExceptionGroup) as exc:  # collect all, report together
                failures.append(f"{operation.label} [{mode.value}]: {exc}")
    print(f"schemathesis: {sum(SENT.values())} requests over {len(operations)} operations")
    if failures:
        raise AssertionError("\n\n".join(failures)) from None


def test_receipt_lookups_answer_unknown_codes_plainly(live: Server):
    rng = random.Random(5)
    for _ in range(20):
        code = "-".join("".join(rng.choice("0123456789") for _ in range(5)) for _ in range(5))
        response = live.get(f"/api/v1/receipts/{code}", source=next(_sources))
        assert response.status == 404 and response.json()["error"]["code"] == "unknown_receipt"


def test_targets_over_the_limit_get_a_414_with_a_json_error(live: Server):
    """The bound ``test_api_conforms_and_never_fails`` relies on: a target of ``MAX_TARGET``
    bytes reaches the view (its own JSON answer), one byte more is refused before it."""
    base = "/api/v1/campaigns/three-withdrawals/signatures?after="
    under = live.get(base + "1" * (MAX_TARGET - len(base)), source=next(_sources))
    assert under.status < 500 and under.json()["error"]["code"] != "uri_too_long"
    over = live.get(base + "1" * (MAX_TARGET - len(base) + 1), source=next(_sources))
    assert over.status == 414 and over.json()["error"]["code"] == "uri_too_long"
