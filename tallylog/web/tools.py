"""The auditor's tools as a wheel that the site and its mirrors serve themselves, at
``/log/tools/``: ``pip install tallylog`` would fetch whatever a package index holds under
that name, while this file comes with the log it checks, and its SHA-256 is on the
transparency page.

The wheel (``tallylog_audit-VERSION-py3-none-any.whl``, binary distribution format 1.0,
PEP 427) holds what an auditor needs and nothing else: ``tallylog.tlog`` (the log library:
hashes, tiles, checkpoints, notes, proofs, the read-side client and the audit),
``tallylog.leaf`` (the entries, for ``recount`` and ``check-receipt``) and the
``tallylog-audit`` command (``tallylog.cli.audit``: verify, prove, recount, check-receipt,
verify-proof), with ``cryptography`` its only dependency. It is built from the running
code, byte for byte the same each time (files in a fixed order, fixed times and modes), so
two sites running the same version serve the same file and anyone can rebuild it.

``tool_wheel`` builds it (once per process); the ``/log/tools/`` views serve it from
memory; ``write_tools`` writes it with its ``SHA256SUMS`` into a log directory, for
nginx and mirrors that serve ``/log/`` as files: ``tallylog init``, ``tallylog serve``
(at start) and ``tallylog export-static`` call it.
"""

from __future__ import annotations

import base64
import functools
import hashlib
import io
import os
import re
import zipfile
from dataclasses import dataclass
from pathlib import Path

import tallylog

TOOLS_DIR = "tools"
SUMS_FILE = "SHA256SUMS"
DISTRIBUTION = "tallylog_audit"  # the project name tallylog-audit, normalised (PEP 427)
REQUIRES = ("cryptography>=42",)
SCRIPT = "tallylog-audit = tallylog.cli.audit:main"
# The package's files the wheel holds (paths inside ``tallylog/``), and every module of
# the ``tlog`` package. tests/cli/test_audit_tool.py checks that they import nothing else.
MODULES = ("__init__.py", "py.typed", "leaf.py", "cli/__init__.py", "cli/audit.py", "cli/auditcmds.py", "cli/logcmds.py")
PACKAGES = ("tlog",)
WHEEL_NAME = re.compile(rf"{DISTRIBUTION}-[0-9][0-9A-Za-z.+]*-py3-none-any\.whl")
_EPOCH = (1980, 1, 1, 0, 0, 0)  # the earliest time a zip file can hold: no build time in it


@dataclass(frozen=True)
class ToolWheel:
    """The wheel's file name, bytes and SHA-256 (hex, as ``sha256sum`` prints it)."""

    name: str
    data: bytes
    sha256: str

    @property
    def sums(self) -> bytes:
        """The ``SHA256SUMS`` line that ``sha256sum -c`` checks."""
        return f"{self.sha256}  {self.name}\n".encode()


def shipped_files(root: Path | None = None) -> list[str]:
    """The paths (inside the ``tallylog`` package at ``root``) that the wheel holds, sorted."""
    root = root or Path(tallylog.__file__).parent
    files = set(MODULES)
    for package in PACKAGES:
        files.update(p.relative_to(root).as_posix() for p in (root / package).glob("*.py"))
    return sorted(files)


@functools.cache
def tool_wheel() -> ToolWheel:
    """The auditor's wheel, built from the running code (once per process)."""
    root = Path(tallylog.__file__).parent
    version = tallylog.__version__
    info = f"{DISTRIBUTION}-{version}.dist-info"
    metadata = "".join(
        [
            "Metadata-Version: 2.1\n",
            "Name: tallylog-audit\n",
            f"Version: {version}\n",
            "Summary: Check a tallylog transparency log (RFC 6962, C2SP tlog-tiles): "
            "the auditor's commands alone, as served by the log's own site.\n",
            "License: AGPL-3.0-or-later\n",
            "Requires-Python: >=3.11\n",
            *(f"Requires-Dist: {r}\n" for r in REQUIRES),
        ]
    )
    files: list[tuple[str, bytes]] = [(f"tallylog/{p}", (root / p).read_bytes()) for p in shipped_files(root)]
    files += [
        (f"{info}/METADATA", metadata.encode()),
        (f"{info}/WHEEL", b"Wheel-Version: 1.0\nGenerator: tallylog.web.tools\nRoot-Is-Purelib: true\nTag: py3-none-any\n"),
        (f"{info}/entry_points.txt", f"[console_scripts]\n{SCRIPT}\n".encode()),
        (f"{info}/top_level.txt", b"tallylog\n"),
    ]
    record = "".join(f"{name},sha256={_record_hash(data)},{len(data)}\n" for name, data in files)
    files.append((f"{info}/RECORD", (record + f"{info}/RECORD,,\n").encode()))
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as wheel:
        for name, data in files:
            entry = zipfile.ZipInfo(name, date_time=_EPOCH)
            entry.external_attr = 0o100644 << 16
            entry.compress_type = zipfile.ZIP_DEFLATED
            wheel.writestr(entry, data, compresslevel=9)
    data = buffer.getvalue()
    return ToolWheel(f"{DISTRIBUTION}-{version}-py3-none-any.whl", data, hashlib.sha256(data).hexdigest())


def _record_hash(data: bytes) -> str:
    """A RECORD file's hash: urlsafe base64 of the SHA-256, without padding (PEP 376/427)."""
    return base64.urlsafe_b64encode(hashlib.sha256(data).digest()).rstrip(b"=").decode()


def write_tools(log_dir: Path) -> ToolWheel:
    """Write the wheel and its ``SHA256SUMS`` into ``log_dir/tools/`` (readable by all,
    like the log), each replaced atomically and only when it differs; wheels of other
    versions there are removed. Returns the wheel."""
    wheel = tool_wheel()
    tools = log_dir / TOOLS_DIR
    tools.mkdir(mode=0o755, parents=True, exist_ok=True)
    _replace(tools / wheel.name, wheel.data)
    _replace(tools / SUMS_FILE, wheel.sums)
    for old in tools.iterdir():
        if old.name != wheel.name and WHEEL_NAME.fullmatch(old.name):
            old.unlink()
    return wheel


def _replace(path: Path, data: bytes) -> None:
    try:
        if path.read_bytes() == data:
            return
    except FileNotFoundError:
        pass
    temporary = path.with_name(f".{path.name}.tmp")
    # 0644 as the log's tiles (tallylog.tlog.storage): the umask, or the log directory's
    # default ACL, decides who else reads it (docs/deploy.md).
    with os.fdopen(os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o644), "wb") as f:
        f.write(data)
        f.flush()
        os.fsync(f.fileno())
    os.replace(temporary, path)


__all__ = ["SUMS_FILE", "TOOLS_DIR", "ToolWheel", "shipped_files", "tool_wheel", "write_tools"]
