"""Wheels of distributions installed in this environment, for ``pip install --no-index``
into a fresh virtual environment without the network (the auditor's wheel's test).

An installed distribution is its ``*.dist-info`` directory (METADATA, WHEEL with its tags,
RECORD listing every file) and the files RECORD lists: zipped back together they are the
wheel that was installed. Compiled ``.pyc`` files and files outside site-packages (console
scripts) are left out; pip writes them anew.
"""

from __future__ import annotations

import importlib.metadata
import zipfile
from pathlib import Path

from packaging.markers import default_environment
from packaging.requirements import Requirement
from packaging.utils import canonicalize_name


def wheel_of_installed(name: str, dest: Path) -> Path:
    """Write the wheel of installed distribution ``name`` into ``dest``; its path."""
    dist = importlib.metadata.distribution(name)
    root = Path(str(dist.locate_file(""))).resolve()
    files = [f for f in dist.files or () if f.parts[0] != ".." and "__pycache__" not in f.parts]
    info = next(f for f in files if f.name == "WHEEL" and f.parent.name.endswith(".dist-info"))
    tag = next(
        line.split(":", 1)[1].strip() for line in (root / info).read_text().splitlines() if line.startswith("Tag:")
    )
    wheel = dest / f"{dist.metadata['Name'].replace('-', '_')}-{dist.version}-{tag}.whl"
    with zipfile.ZipFile(wheel, "w", zipfile.ZIP_DEFLATED) as z:
        for f in sorted(files, key=lambda f: (f.parent.name.endswith(".dist-info"), str(f))):
            z.write(root / f, str(f))
    return wheel


def wheels_with_dependencies(names: list[str], dest: Path) -> list[Path]:
    """Wheels of ``names`` and of everything they require in this environment (markers
    evaluated here), each once."""
    environment = default_environment()
    seen: set[str] = set()
    wheels = []
    todo = list(names)
    while todo:
        name = canonicalize_name(todo.pop())
        if name in seen:
            continue
        seen.add(name)
        wheels.append(wheel_of_installed(name, dest))
        for spec in importlib.metadata.requires(name) or ():
            requirement = Requirement(spec)
            if requirement.marker is None or requirement.marker.evaluate({**environment, "extra": ""}):
                todo.append(requirement.name)
    return wheels
