"""The auditor against a state file (rollback, fork, growth) and the private search."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from tallylog.tlog import (
    Appender,
    FileStore,
    LogClient,
    Signer,
    VerificationError,
    generate_key,
)
from tallylog.tlog.audit import audit, audited_files, read_state, write_state
from tallylog.tlog.hashes import check_inclusion, leaf_hash
from tallylog.tlog.note import Verifier
from tallylog.tlog.source import DirectorySource, MalformedFileError

ORIGIN = "audit.example/log"
SKEY, VKEY = generate_key(ORIGIN)


def entry(i: int, fork: str = "") -> bytes:
    return f"audit entry {i}{fork}".encode()


def grow(root: Path, start: int, end: int, fork: str = "") -> None:
    app = Appender.open(FileStore(root), Signer(SKEY), ORIGIN)
    assert app.size == start
    app.append([entry(i, fork) for i in range(start, end)])


@pytest.fixture(scope="module")
def base(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("audit") / "log"
    grow(root, 0, 600)
    return root


def copy(base: Path, tmp: Path, name: str) -> Path:
    shutil.copytree(base, tmp / name)
    return tmp / name


def test_write_state_and_read_state_are_inverses(base: Path, tmp_path: Path) -> None:
    client = LogClient.open(base, VKEY)
    state = str(tmp_path / "state")
    assert read_state(state, Verifier(VKEY)) is None
    write_state(state, client.note)
    assert read_state(state, Verifier(VKEY)) == client.checkpoint
    assert [p.name for p in tmp_path.iterdir()] == ["state"]  # no temporary file left
    (tmp_path / "state").write_bytes(b"not a checkpoint\n")
    with pytest.raises(MalformedFileError, match="the state file"):
        read_state(state, Verifier(VKEY))
    other = generate_key(ORIGIN)[1]
    write_state(state, client.note)
    with pytest.raises(VerificationError, match=r"bad signature on the checkpoint at .*the state file"):
        read_state(state, Verifier(other))


def test_audit_remembers_then_accepts_growth_and_refuses_rollback(base: Path, tmp_path: Path) -> None:
    old = copy(base, tmp_path, "old")
    state = str(tmp_path / "state")
    first = audit(LogClient.open(old, VKEY), state=state)
    assert first.previous is None and first.checkpoint.size == 600 and first.files == audited_files(600)
    grown = copy(base, tmp_path, "grown")
    grow(grown, 600, 70000)
    second = audit(LogClient.open(grown, VKEY), state=state, workers=2)
    assert second.previous == 600 and read_state(state, Verifier(VKEY)) == second.checkpoint
    with pytest.raises(VerificationError, match=r"size went backwards.*signs 600 entries, but 70000"):
        audit(LogClient.open(old, VKEY), state=state)
    assert read_state(state, Verifier(VKEY)) == second.checkpoint  # left alone


def test_audit_catches_forks_of_the_same_and_of_a_larger_size(base: Path, tmp_path: Path) -> None:
    a, b, c = (copy(base, tmp_path, n) for n in "abc")
    grow(a, 600, 601)
    grow(b, 600, 601, fork=" forked")
    grow(c, 600, 700, fork=" forked")
    state = str(tmp_path / "state")
    audit(LogClient.open(a, VKEY), state=state)
    audit(LogClient.open(b, VKEY))  # on its own, b is a fine log
    with pytest.raises(VerificationError, match="fork: the log signs two different trees of size 601"):
        audit(LogClient.open(b, VKEY), state=state)
    with pytest.raises(VerificationError, match="fork: the log at size 700 is not consistent"):
        audit(LogClient.open(c, VKEY), state=state)


def test_audited_files_counts_bundles_and_tiles_of_every_level() -> None:
    assert audited_files(0) == 0
    assert audited_files(1) == 2  # tile/0/000.p/1 and its bundle
    assert audited_files(256) == 3  # + tile/1/000.p/1
    assert audited_files(65536) == 256 + 1 + 1 + 256


class Recording(DirectorySource):
    def __init__(self, root: Path) -> None:
        super().__init__(root)
        self.reads: list[str] = []

    def read(self, path: str) -> bytes | None:
        self.reads.append(path)
        return super().read(path)


def test_search_reads_the_same_files_whichever_entry_matches(base: Path) -> None:
    seen = []
    for wanted in (210, 300, 459):
        source = Recording(base)
        client = LogClient.open(source, VKEY)
        found = client.search(210, 460, lambda e, w=wanted: e == entry(w))
        assert [(i, e) for i, e, _ in found] == [(wanted, entry(wanted))]
        check_inclusion(found[0][2], 600, client.root, wanted, leaf_hash(entry(wanted)))
        seen.append(sorted(source.reads))
    assert seen[0] == seen[1] == seen[2]
    assert [p for p in seen[0] if p.startswith("tile/entries/")] == ["tile/entries/000", "tile/entries/001"]


def test_search_finds_nothing_in_an_authentic_range_and_refuses_an_edited_entry(base: Path, tmp_path: Path) -> None:
    client = LogClient.open(base, VKEY)
    progress: list[int] = []
    assert client.search(0, 600, lambda e: False, progress=progress.append) == []
    assert sum(progress) == 600
    edited = copy(base, tmp_path, "edited")
    bundle = edited / "tile/entries/001"
    bundle.write_bytes(bundle.read_bytes().replace(b"audit entry 300", b"audit entry 3!0"))
    with pytest.raises(VerificationError, match="entry 300 is not the one the signed tree holds"):
        LogClient.open(edited, VKEY).search(0, 600, lambda e: False)
    with pytest.raises(ValueError):
        client.search(0, 601, lambda e: True)
