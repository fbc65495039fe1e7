"""The auditor against a hostile mirror (issue 7, item 6).

``tallylog verify`` is fed copies of a good log in which each file (checkpoint, full and
partial hash tiles at both levels, full and partial entry bundles) was truncated,
enlarged by a little or by a mebibyte, emptied, or had bits flipped at several random
places. Every time it must exit non-zero with a message on standard error, and never a
traceback. (tests/cli/test_logcmds.py covers the named faults one by one: a flipped bit
in a chosen place, a truncated tile, a missing tile, another key, rollback and forks.)
"""

from __future__ import annotations

import random
import shutil
import subprocess
from collections.abc import Callable
from pathlib import Path

import pytest

from tests.support.serverproc import REPO, server_env, tallylog_command

pytestmark = pytest.mark.server  # starts subprocesses (see tests/conftest.py)

SIZE = 300  # one full tile (256) and a partial one (44) at level 0
FILES = [
    "checkpoint",
    "tile/0/000",
    "tile/0/001.p/44",
    "tile/1/000.p/1",
    "tile/entries/000",
    "tile/entries/001.p/44",
]


def cli(*args: str, stdin: bytes | None = None) -> subprocess.CompletedProcess[bytes]:
    """Run a tallylog command that needs no home (keygen, log append, verify)."""
    return subprocess.run(
        [*tallylog_command(), *args], input=stdin, capture_output=True, env=server_env(None), cwd=REPO, timeout=120
    )


def entry(i: int, fork: bool = False) -> bytes:
    return f'{{"n":{i},"text":"声明 {i}{" fork" if fork else ""}"}}'.encode()


def make_log(directory: Path, key: Path, entries: list[bytes]) -> None:
    result = cli("log", "append", str(directory), "--key", str(key), stdin=b"\n".join(entries) + b"\n")
    assert result.returncode == 0, result.stderr.decode()


@pytest.fixture(scope="module")
def keys(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, str]:
    base = tmp_path_factory.mktemp("hostile-keys")
    key = base / "signing.key"
    result = cli("keygen", "--origin", "example.org/hostile-test", "--out", str(key))
    assert result.returncode == 0, result.stderr.decode()
    return key, result.stdout.decode().strip().splitlines()[-1]


@pytest.fixture(scope="module")
def pristine(tmp_path_factory: pytest.TempPathFactory, keys: tuple[Path, str]) -> Path:
    log = tmp_path_factory.mktemp("hostile") / "log"
    make_log(log, keys[0], [entry(i) for i in range(SIZE)])
    for name in FILES:
        assert (log / name).is_file(), f"expected {name} in a log of size {SIZE}"
    return log


def verify(source: Path, vkey: str, *extra: str) -> subprocess.CompletedProcess[bytes]:
    return cli("verify", str(source), "--key", vkey, *extra)


def assert_refused(result: subprocess.CompletedProcess[bytes], what: str) -> None:
    stderr = result.stderr.decode(errors="replace")
    assert result.returncode != 0, f"{what}: verify passed"
    assert stderr.strip(), f"{what}: no message"
    assert "Traceback" not in stderr, f"{what}: crashed\n{stderr}"


def test_the_pristine_log_verifies(pristine, keys):
    result = verify(pristine, keys[1])
    assert result.returncode == 0, result.stderr.decode()


def truncate_half(data: bytes) -> bytes:
    return data[: len(data) // 2]


def truncate_one(data: bytes) -> bytes:
    return data[:-1]


def enlarge(data: bytes) -> bytes:
    return data + b"\x00" * 32


def enlarge_huge(data: bytes) -> bytes:
    return data + b"A" * (1 << 20)


def empty(data: bytes) -> bytes:
    return b""


MUTATIONS: dict[str, Callable[[bytes], bytes]] = {
    "truncated to half": truncate_half,
    "one byte short": truncate_one,
    "32 bytes too long": enlarge,
    "1 MiB too long": enlarge_huge,
    "empty": empty,
}


@pytest.mark.parametrize("mutation", list(MUTATIONS))
@pytest.mark.parametrize("name", FILES)
def test_damaged_file_is_reported(pristine, keys, tmp_path, name, mutation):
    log = tmp_path / "log"
    shutil.copytree(pristine, log)
    path = log / name
    path.write_bytes(MUTATIONS[mutation](path.read_bytes()))
    assert_refused(verify(log, keys[1]), f"{name} {mutation}")


@pytest.mark.parametrize("name", FILES)
def test_bit_flips_are_reported(pristine, keys, tmp_path, name):
    rng = random.Random(name)
    original = (pristine / name).read_bytes()
    positions = sorted(rng.sample(range(len(original) * 8), 6))
    if name == "checkpoint":
        # The last line is the signature; flip in the body (origin, size, root) and in it.
        positions = [3, 8 * original.index(b"\n") + 5, 8 * (len(original) - 10) + 1, *positions[:3]]
    for bit in positions:
        log = tmp_path / f"log-{bit}"
        shutil.copytree(pristine, log)
        data = bytearray(original)
        data[bit // 8] ^= 1 << (bit % 8)
        (log / name).write_bytes(bytes(data))
        assert_refused(verify(log, keys[1]), f"{name} bit {bit}")
