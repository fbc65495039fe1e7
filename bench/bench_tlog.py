"""The transparency log's benchmarks (issue 2): append, verify, proofs, growth.

    python -m bench tlog [--sizes 1000000,10000000] [--batch 4096] [--entry-size 100]
                         [--proofs 10000] [--no-go] [--workdir DIR] [--keep]

For each size N it builds, in a fresh directory:
- append: N entries of ``--entry-size`` bytes into a ``FileStore`` with the ``Appender``,
  in batches, one process (target ≥ 300,000 entries/s); and the same tree built by Go's
  tlog (bench/go/tlogbuild) in the same run, with the ratio; both roots must agree;
- verify: ``tallylog verify DIR`` on every core (target ≥ 500,000 entries/s, peak memory of
  the whole process tree < 200 MB);
- proofs: ``--proofs`` inclusion proofs of random entries from the ``FileStore``, a fresh
  tile reader each (as a web request would), p50/p99 (target p99 < 1 ms);
- disk used.
Then a projection to 400 million entries (time, disk, memory) from the largest size.
Entry i is ``b"%010d "`` of i padded with ``x``, as the Go program builds it.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import shutil
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
GOPATH = "/usr/share/gocode"
PROJECT = 400_000_000


def entries(start: int, end: int, size: int) -> list[bytes]:
    """Entries [start, end): ``%010d `` of the index, padded with ``x`` to ``size`` bytes."""
    return [(b"%010d " % i).ljust(size, b"x") for i in range(start, end)]


def build_go(tmp: Path) -> Path | None:
    """Build bench/go/tlogbuild offline against Debian's golang.org/x/mod; None without Go."""
    if shutil.which("go") is None or not Path(GOPATH, "src/golang.org/x/mod/sumdb/tlog").is_dir():
        print("  (no Go: run `bash scripts/test-deps.sh` for the Go comparison)")
        return None
    binary = tmp / "tlogbuild"
    env = {**os.environ, "GOPATH": GOPATH, "GO111MODULE": "off", "GOFLAGS": "", "GOCACHE": str(tmp / "gocache")}
    subprocess.run(["go", "build", "-o", str(binary), "."], cwd=ROOT / "bench/go/tlogbuild", env=env, check=True)
    return binary


class PeakRSS:
    """Samples the resident memory of a process and all its descendants (from /proc)."""

    def __init__(self, pid: int) -> None:
        self.pid, self.peak, self._stop = pid, 0, threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()

    def _tree(self, pid: int) -> list[int]:
        out = [pid]
        try:
            for task in os.listdir(f"/proc/{pid}/task"):
                with open(f"/proc/{pid}/task/{task}/children") as f:
                    for child in f.read().split():
                        out += self._tree(int(child))
        except OSError:
            pass
        return out

    def _rss(self, pid: int) -> int:
        try:
            with open(f"/proc/{pid}/statm") as f:
                return int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")
        except OSError:
            return 0

    def _run(self) -> None:
        while not self._stop.is_set():
            self.peak = max(self.peak, sum(self._rss(p) for p in self._tree(self.pid)))
            self._stop.wait(0.05)

    def stop(self) -> int:
        self._stop.set()
        self._thread.join()
        return self.peak


def timed(cmd: list[str], **kw: object) -> tuple[float, int, str]:
    """Run ``cmd``; its wall time, the peak memory of its process tree, its output."""
    start = time.perf_counter()
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, **kw)  # type: ignore[call-overload]
    meter = PeakRSS(proc.pid)
    out, err = proc.communicate()
    elapsed = time.perf_counter() - start
    peak = meter.stop()
    if proc.returncode:
        raise SystemExit(f"{' '.join(cmd)} failed:\n{err.decode()}")
    return elapsed, peak, out.decode()


def append_child(argv: list[str]) -> int:
    """In a child process (so its memory is its own): build the log, print JSON."""
    from tallylog.tlog import Appender, note, storage

    log, keyfile, n, batch, size = Path(argv[0]), argv[1], int(argv[2]), int(argv[3]), int(argv[4])
    signer = note.Signer(Path(keyfile).read_text().strip())
    appender = Appender.open(storage.FileStore(log), signer, signer.name)
    gen = 0.0
    start = time.perf_counter()
    for first in range(0, n, batch):
        t = time.perf_counter()
        batch_entries = entries(first, min(n, first + batch), size)
        gen += time.perf_counter() - t
        appender.stage(batch_entries)
    appender.publish()
    elapsed = time.perf_counter() - start - gen
    print(json.dumps({"seconds": elapsed, "generate_seconds": gen}))
    return 0


def proofs(log: Path, n: int, count: int, shared: bool = False) -> tuple[float, float, float]:
    """p50, p99 and max of ``count`` inclusion proofs at size n, in milliseconds: each with
    a fresh tile reader (as a stateless web request would), or with one ``shared`` reader
    whose authenticated tiles stay cached between proofs of the same tree."""
    from tallylog.tlog import hashes, storage, tiles

    store = storage.FileStore(log)
    root = hashes.tree_hash(n, tiles.TileHashReader(n, store))
    reader = tiles.TileHashReader(n, root, store)
    rng = random.Random(1)
    times = []
    for _ in range(count):
        index = rng.randrange(n)
        t = time.perf_counter()
        hashes.prove_inclusion(n, index, reader if shared else tiles.TileHashReader(n, root, store))
        times.append(time.perf_counter() - t)
    times.sort()
    return (1000 * times[len(times) // 2], 1000 * times[int(len(times) * 0.99)], 1000 * times[-1])


def du(path: Path) -> int:
    return sum(f.stat().st_size for f in path.rglob("*") if f.is_file())


def mb(n: float) -> str:
    return f"{n / 1e6:,.0f} MB"


def one_size(n: int, args: argparse.Namespace, tmp: Path, go: Path | None, key: Path, vkey: str) -> dict[str, float]:
    log = tmp / f"log-{n}"
    py = sys.executable
    print(f"-- {n:,} entries of {args.entry_size} bytes, batches of {args.batch}")
    _elapsed, peak, out = timed(
        [py, "-m", "bench.bench_tlog", "_append", str(log), str(key), str(n), str(args.batch), str(args.entry_size)],
        cwd=ROOT,
    )
    seconds = json.loads(out)["seconds"]
    rate = n / seconds
    disk = du(log)
    r = {"n": n, "append_rate": rate, "append_seconds": seconds, "append_peak": peak, "disk": disk}
    print(f"  append (1 core): {rate:,.0f} entries/s ({seconds:.1f} s, peak {mb(peak)}; target ≥300,000/s)")
    if go:
        gdir = tmp / f"go-{n}"
        _, gpeak, gout = timed(
            [str(go), "-dir", str(gdir), "-n", str(n), "-batch", str(args.batch), "-size", str(args.entry_size)]
        )
        g = json.loads(gout)
        from tallylog.tlog import checkpoint, note

        ours = checkpoint.parse_checkpoint(note.open_note((log / "checkpoint").read_bytes(), [note.Verifier(vkey)]).text)
        import base64

        same = base64.b64encode(ours.root_hash).decode() == g["root"]
        r["go_rate"] = n / g["seconds"]
        print(
            f"  Go tlog building the same tree: {n / g['seconds']:,.0f} entries/s ({g['seconds']:.1f} s, "
            f"peak {mb(gpeak)}); tallylog/Go = {rate / r['go_rate']:.2f}; same root: {same}"
        )
        if not same:
            raise SystemExit("tallylog and Go disagree on the root")
        shutil.rmtree(gdir)
    tallylog = str(Path(py).with_name("tallylog"))
    vseconds, vpeak, _ = timed([tallylog, "verify", str(log), "--key", vkey])
    r.update(verify_rate=n / vseconds, verify_seconds=vseconds, verify_peak=vpeak)
    print(
        f"  verify (all cores): {n / vseconds:,.0f} entries/s ({vseconds:.1f} s, peak {mb(vpeak)} "
        "for all processes; target ≥500,000/s, < 200 MB)"
    )
    p50, p99, pmax = proofs(log, n, args.proofs)
    r.update(proof_p50=p50, proof_p99=p99)
    print(f"  inclusion proof from the FileStore, fresh reader each: p50 {p50:.3f} ms, p99 {p99:.3f} ms, max {pmax:.3f} ms (target p99 < 1 ms)")
    s50, s99, smax = proofs(log, n, args.proofs, shared=True)
    r.update(shared_p50=s50, shared_p99=s99)
    print(f"  inclusion proof, one reader kept per checkpoint: p50 {s50:.3f} ms, p99 {s99:.3f} ms, max {smax:.3f} ms")
    print(f"  disk: {mb(disk)} ({disk / n:.0f} bytes/entry)")
    if not args.keep:
        shutil.rmtree(log)
    return r


def main(argv: list[str]) -> int:
    if argv and argv[0] == "_append":
        return append_child(argv[1:])
    p = argparse.ArgumentParser(prog="python -m bench tlog", description=__doc__.split("\n")[0])
    p.add_argument("--sizes", default="1000000,10000000", help="comma-separated log sizes")
    p.add_argument("--batch", type=int, default=4096)
    p.add_argument("--entry-size", type=int, default=100)
    p.add_argument("--proofs", type=int, default=10000)
    p.add_argument("--no-go", action="store_true", help="skip the Go comparison")
    p.add_argument("--workdir", help="where to build the logs (default: a temporary directory)")
    p.add_argument("--keep", action="store_true", help="keep the logs")
    args = p.parse_args(argv)
    sizes = [int(s.replace("_", "")) for s in args.sizes.split(",")]
    print(f"machine: {os.cpu_count()} cores; python {sys.version.split()[0]}")
    with tempfile.TemporaryDirectory(dir=args.workdir, prefix="bench-tlog-") as d:
        tmp = Path(d)
        go = None if args.no_go else build_go(tmp)
        key = tmp / "bench.key"
        from tallylog.home import write_private
        from tallylog.tlog import note

        skey, vkey = note.generate_key("bench.example/log")
        write_private(key, skey.encode() + b"\n")
        results = [one_size(n, args, tmp, go, key, vkey) for n in sizes]
    last = results[-1]
    per_entry = last["disk"] / last["n"]
    print(f"-- projection to {PROJECT:,} entries (from {last['n']:,}; rates constant, memory bounded):")
    print(f"  append: {PROJECT / last['append_rate'] / 3600:.1f} h at {last['append_rate']:,.0f}/s")
    print(f"  full verify: {PROJECT / last['verify_rate'] / 3600:.1f} h at {last['verify_rate']:,.0f}/s")
    print(f"  disk: {per_entry * PROJECT / 1e9:,.0f} GB ({per_entry:.0f} bytes/entry)")
    print(f"  memory: append peak {mb(last['append_peak'])}, verify peak {mb(last['verify_peak'])} (bounded: no growth expected)")
    print(f"  proofs: O(log n) tile reads: p99 {last['proof_p99']:.3f} ms at {last['n']:,}")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
