"""Run the benchmarks: ``python -m bench`` runs every ``bench/bench_<name>.py``;
``python -m bench NAME [ARGS…]`` runs one, passing it the remaining arguments;
``python -m bench --list`` names them.

A benchmark is a module ``bench/bench_<name>.py`` with a function
``main(argv: list[str]) -> int`` that parses its own flags (sizes configurable, so a quick
run is possible), prints its figures and returns an exit status. Adding one is adding
the file: nothing here needs to change.
"""

from __future__ import annotations

import importlib
import pkgutil
import sys
from pathlib import Path

PREFIX = "bench_"


def available() -> list[str]:
    """The names of the benchmarks in this package, sorted."""
    here = str(Path(__file__).parent)
    return sorted(
        info.name[len(PREFIX) :]
        for info in pkgutil.iter_modules([here])
        if info.name.startswith(PREFIX)
    )


def run(name: str, argv: list[str]) -> int:
    """Run benchmark ``name`` with its own arguments; its exit status."""
    module = importlib.import_module(f"bench.{PREFIX}{name}")
    print(f"== bench {name}", flush=True)
    return int(module.main(argv) or 0)


def main(argv: list[str]) -> int:
    names = available()
    if argv and argv[0] in ("-h", "--help"):
        print(__doc__.strip())
        return 0
    if argv and argv[0] == "--list":
        print("\n".join(names))
        return 0
    if argv:
        name, rest = argv[0], argv[1:]
        if name not in names:
            print(f"bench: no benchmark {name!r}; there are: {', '.join(names)}", file=sys.stderr)
            return 2
        return run(name, rest)
    status = 0
    for name in names:
        status = run(name, []) or status
    return status


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
