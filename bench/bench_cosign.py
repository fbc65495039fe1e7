"""The cosigning delay added to publication (issue 14 §1): with one local witness
(``tallylog witness serve`` in a subprocess, added with ``tallylog witness add``), the time
from a checkpoint's publication by ``tallylog serve`` to the publication of the same
checkpoint with the witness's cosignature.

    python -m bench cosign                    # 20 checkpoints
    python -m bench cosign --checkpoints 5

For each checkpoint: one declaration through the API, then the home's ``log/checkpoint``
file is read every millisecond; the delay is from the first read of the new size signed
only to the first read of it cosigned (0 when the cosigned one was the first seen: both
within the same millisecond). Prints median, p90 and maximum.
"""

from __future__ import annotations

import argparse
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from tests.support.serverproc import (
    CAMPAIGN,
    Server,
    request,
    run_cli,
    server_env,
    tallylog_command,
)

LETTERS = "自由光明真善忍觉醒新生平安福德仁义礼智信勇春夏秋冬山河星月"


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(prog="bench cosign")
    parser.add_argument("--checkpoints", type=int, default=20)
    args = parser.parse_args(argv)
    with tempfile.TemporaryDirectory() as tmp:
        return _run(Path(tmp), args.checkpoints)


def _run(tmp: Path, count: int) -> int:
    home = tmp / "home"
    init = run_cli(home, "init")
    vkey = next(line.split(": ", 1)[1] for line in init.stdout.splitlines() if line.startswith("verifier key: "))
    keygen = subprocess.run([*tallylog_command(), "witness", "keygen", "bench.example/w", str(tmp / "w.key")],
                            capture_output=True, text=True, env=server_env(None), check=True)
    wvkey = keygen.stdout.strip().splitlines()[-1]
    witness = subprocess.Popen([*tallylog_command(), "witness", "serve", "--key", str(tmp / "w.key"), "--log", vkey,
                                "--port", "0", "--quiet"], stdout=subprocess.PIPE, text=True, env=server_env(None))
    try:
        assert witness.stdout is not None
        url = witness.stdout.readline().split(" on ", 1)[1].split(" ", 1)[0]
        assert run_cli(home, "witness", "add", wvkey, url).returncode == 0
        server = Server(home, tmp / "logs", env_extra={"TALLYLOG_SEQUENCER_INTERVAL": "0.1"})
        server.start()
        try:
            delays = [_one(server, home / "log/checkpoint", n, wvkey.split("+")[0]) for n in range(1, count + 1)]
        finally:
            server.stop()
    finally:
        witness.terminate()
        witness.wait(timeout=30)
    ms = sorted(d * 1000 for d in delays)
    p90 = ms[min(len(ms) - 1, int(0.9 * len(ms)))]
    print(f"checkpoints: {len(ms)}; cosigning delay (ms): median {statistics.median(ms):.1f}, "
          f"p90 {p90:.1f}, max {ms[-1]:.1f}")
    return 0


def _one(server: Server, path: Path, n: int, name: str) -> float:
    alias = "".join(LETTERS[(n * 7 + i * 3) % len(LETTERS)] for i in range(8))
    r = request(server.port, "POST", f"/api/v1/campaigns/{CAMPAIGN}/declarations",
                body={"alias": alias, "orgs": ["party"]}, source=f"127.96.{n // 200}.{n % 200 + 2}")
    assert r.status == 201, r.body
    mark = f"\u2014 {name} ".encode()
    signed_at = None
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        data = path.read_bytes()
        now = time.monotonic()
        lines = data.split(b"\n")
        if len(lines) > 1 and lines[1].isdigit() and int(lines[1]) >= n:
            if mark in data:
                return now - signed_at if signed_at is not None else 0.0
            if signed_at is None:
                signed_at = now
        time.sleep(0.001)
    raise RuntimeError(f"checkpoint {n} not cosigned within 60 s")


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
