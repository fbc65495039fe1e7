"""A JSON Lines record read on the fast path (issue 6) is the ``Row`` the per-field loop
it replaced gave, for any line. The reader before issue 6 is kept as the reference in
tests/support/reference.py.
"""

from __future__ import annotations

import json

import pytest
from hypothesis import example, given, settings
from hypothesis import strategies as st

from tallylog.registry.imports.formats import FIELDS, _jsonl_row
from tests.support.reference import reference_jsonl_row

scalars = st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=6)
values = st.one_of(
    st.text(max_size=6),
    st.lists(st.text(max_size=4), max_size=3),
    st.recursive(scalars, lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=3), inner, max_size=2), max_leaves=5),
)
objects = st.dictionaries(st.sampled_from([*FIELDS, "email", "Alias", ""]), values, max_size=7)


@pytest.mark.slow  # exhaustive or property-based; in make test, not make test-fast
@settings(max_examples=1500)
@given(st.one_of(objects, objects.map(lambda o: {k: v for k, v in o.items() if k in FIELDS}), values), st.booleans())
def test_a_json_value_reads_as_before(value: object, ascii_only: bool) -> None:
    raw = (json.dumps(value, ensure_ascii=ascii_only) + "\n").encode()
    assert _jsonl_row(7, raw) == reference_jsonl_row(7, raw)


@given(st.binary(max_size=40) | st.text(max_size=40).map(str.encode))
@example(b'\xef\xbb\xbf{"alias":"x"}')  # a byte order mark (not on line 1): refused as before
@example(b'{"alias":"x","alias":null}')  # the last of a repeated key counts
@example(b'{"orgs":["party"],"alias":"x","region":null}')
@example(b'  {"alias":"x"}  \r\n')
@example(b'{"alias":"x"} {}')
def test_any_line_reads_as_before(raw: bytes) -> None:
    assert _jsonl_row(3, raw) == reference_jsonl_row(3, raw)
