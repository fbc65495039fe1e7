"""The test folders mirror the packages: the tests of ``tallylog/X`` are in ``tests/X`` (so
``tallylog/registry/declarations`` → ``tests/registry/declarations``), and ``tests/test_X*.py``
tests the module ``tallylog/X.py``. The only other folders are the cross-cutting ones below."""

from __future__ import annotations

from pathlib import Path

TESTS = Path(__file__).resolve().parent
PACKAGE = TESTS.parent / "tallylog"

# Folders that are not a package, each named for what it holds.
CROSS_CUTTING = {
    "support": "the shared harness, no tests: subprocess servers, the browser, slow clients, "
    "mail, reference implementations",
    "e2e": "the real server (tallylog serve) end to end, in subprocesses",
    "browser": "the public pages in a real browser (Chromium)",
    "interop": "against independent implementations (Go's tlog and note), with their Go programs",
    "scale": "real PostgreSQL: sequencer election, fail-over, read replicas",
}
# Files at the top of tests/ that are not the tests of a module.
TOP_LEVEL = {"__init__.py", "conftest.py", "settings.py", "test_layout.py"}


def folders() -> list[Path]:
    return sorted(
        d for d in TESTS.rglob("*")
        if d.is_dir() and d.name != "__pycache__" and d.relative_to(TESTS).parts[0] not in CROSS_CUTTING
    )  # fmt: skip


def test_every_test_folder_is_a_package() -> None:
    strays = [str(d.relative_to(TESTS)) for d in folders() if not (PACKAGE / d.relative_to(TESTS) / "__init__.py").is_file()]
    assert not strays, f"test folders with no package tallylog/<folder> (nor in CROSS_CUTTING): {strays}"


def test_cross_cutting_folders_exist_and_hold_no_package_name() -> None:
    for name in CROSS_CUTTING:
        assert (TESTS / name).is_dir(), name
        assert not (PACKAGE / name).exists(), f"tests/{name} is named like the package tallylog/{name}"


def test_every_python_test_folder_is_a_package_of_its_own() -> None:
    # An __init__.py in each, so that test modules of the same name in two folders do not collide.
    missing = [
        str(d.relative_to(TESTS)) for d in [*folders(), *(TESTS / name for name in CROSS_CUTTING)]
        if any(d.glob("*.py")) and not (d / "__init__.py").is_file()
    ]  # fmt: skip
    assert not missing, missing


def test_top_level_test_files_name_a_module() -> None:
    strays = []
    for f in sorted(TESTS.glob("*.py")):
        if f.name in TOP_LEVEL:
            continue
        stem = f.stem.removeprefix("test_")
        modules = {p.stem for p in PACKAGE.glob("*.py")}
        if not f.name.startswith("test_") or not any(stem == m or stem.startswith(m + "_") for m in modules):
            strays.append(f.name)
    assert not strays, f"tests/<file> that test no tallylog/<module>.py: {strays}"
