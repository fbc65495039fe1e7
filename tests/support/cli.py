"""Running the ``tallylog`` command as a user does: a subprocess; the entries and keys the
command-line tests feed it."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from tallylog.leaf import canonical_json, commitment, encode_leaf, new_receipt_tag, new_salt, receipt_tag_v1

SCRIPT = Path(sys.executable).with_name("tallylog")


def tallylog(*args: str | os.PathLike[str], stdin: bytes = b"", check: bool = True) -> subprocess.CompletedProcess[str]:
    """Run ``tallylog ARGS…`` (the console script, else ``python -m tallylog.cli``)."""
    cmd = [str(SCRIPT)] if SCRIPT.exists() else [sys.executable, "-m", "tallylog.cli"]
    proc = subprocess.run(
        [*cmd, *map(str, args)],
        input=stdin,
        capture_output=True,
        timeout=600,
        env={**os.environ, "PYTHONWARNINGS": "error::RuntimeWarning"},
    )
    result = subprocess.CompletedProcess(
        proc.args, proc.returncode, proc.stdout.decode(), proc.stderr.decode()
    )
    if check and result.returncode != 0:
        raise AssertionError(f"{' '.join(map(str, args))} failed ({result.returncode}):\n{result.stderr}")
    return result


def fails(*args: str | os.PathLike[str], stdin: bytes = b"") -> str:
    """Run a command that must fail; its standard error (one clear message, no traceback)."""
    result = tallylog(*args, stdin=stdin, check=False)
    assert result.returncode != 0, f"{args} succeeded:\n{result.stdout}"
    assert "Traceback" not in result.stderr, result.stderr
    assert result.stderr.strip(), "no message on standard error"
    return result.stderr


def keygen(tmp: Path, origin: str = "example.org/log", name: str = "log.key") -> tuple[Path, str]:
    """A new signer key file and its verifier key, made by ``tallylog keygen``."""
    out = tallylog("keygen", "--origin", origin, "--out", tmp / name)
    return tmp / name, out.stdout.strip().splitlines()[-1]


def append(log: Path, key: Path, entries: list[bytes], *extra: str) -> int:
    """``tallylog log append``; the new size it prints."""
    out = tallylog("log", "append", log, "--key", key, *extra, stdin=b"".join(e + b"\n" for e in entries))
    return int(out.stdout.strip().splitlines()[-1])


def declaration(
    code: str, day: str, orgs: list[str], campaign: str = "three-withdrawals", channel: str = "web", v: int = 2
) -> bytes:
    """A declaration leaf as the registry writes it (``v=1``: as it did before leaf v2)."""
    content = {"alias": "a", "statement": "", "region": ""}
    tag, tag_salt = new_receipt_tag(code) if v == 2 else (receipt_tag_v1(code), None)
    return encode_leaf(
        kind="declaration",
        campaign=campaign,
        day=day,
        channel=channel,
        commit=commitment(new_salt(), content),
        tag=tag,
        orgs=orgs,
        tag_salt=tag_salt,
    )


def receipt(i: int) -> str:
    """A fixed, valid receipt code for test entry ``i``."""
    digits = f"{i:025d}"
    return "-".join(digits[k : k + 5] for k in range(0, 25, 5))


__all__ = ["SCRIPT", "append", "canonical_json", "declaration", "fails", "keygen", "receipt", "tallylog"]
