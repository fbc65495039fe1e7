"""Turns at SQLite's write lock (tallylog.fastpath.writeturn), between real processes on a
real database file: a second writer waits for the turn and gets it when the first one
ends it, or dies; a nested turn in the same thread does not wait for itself."""

from __future__ import annotations

import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from tests.support.serverproc import REPO, server_env

pytestmark = pytest.mark.server  # starts subprocesses (see tests/conftest.py)

SCRIPT = """
import sys, time
import django
django.setup()
from tallylog.fastpath.writeturn import write_turn
if sys.argv[1] == "hold":
    with write_turn():
        with write_turn():  # nested: part of the outer turn
            print("held", flush=True)
            sys.stdin.readline()  # until the test says so (or kills this process)
else:
    print("waiting", flush=True)
    started = time.monotonic()
    with write_turn():
        print(f"{time.monotonic() - started:.3f}", flush=True)
"""


def _start(home: Path, *args: str) -> subprocess.Popen[str]:
    # server_env: the embedded database in ``home``, whatever this pass runs on.
    return subprocess.Popen(
        [sys.executable, "-c", SCRIPT, *args], env=server_env(home, DJANGO_SETTINGS_MODULE="tallylog.settings"),
        stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True, cwd=REPO,
    )


@pytest.mark.parametrize("end", ["finishes", "is killed"])
def test_a_second_writer_waits_for_the_turn_until_the_first_ends_it(tmp_path: Path, end: str) -> None:
    holder = _start(tmp_path, "hold")
    assert holder.stdout is not None and holder.stdout.readline().strip() == "held"
    waiter = _start(tmp_path, "wait")
    try:
        assert waiter.stdout is not None and waiter.stdout.readline().strip() == "waiting"
        time.sleep(0.8)
        assert waiter.poll() is None, "the second writer did not wait for the turn"
        if end == "is killed":
            holder.send_signal(signal.SIGKILL)  # the kernel releases its lock
        else:
            assert holder.stdin is not None
            holder.stdin.write("done\n")
            holder.stdin.flush()
        out, _ = waiter.communicate(timeout=60)
        assert waiter.returncode == 0
        assert float(out) >= 0.8
    finally:
        for p in (holder, waiter):
            if p.poll() is None:
                p.kill()
            p.wait()
    assert list(tmp_path.rglob("*.write-lock")), "the turn is not a lock file beside the database"
