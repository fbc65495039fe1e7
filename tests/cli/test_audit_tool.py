"""The auditor's tools from the site itself (issue 17): the wheel at /log/tools/ holds
``tallylog.tlog``, ``tallylog.leaf`` and the ``tallylog-audit`` command and nothing else,
is the same bytes every time, is listed with its SHA-256 on the transparency page, is
written by ``init`` and ``export-static``, and — installed from the site into a fresh
virtual environment, without Django, without the network — checks a served log."""

from __future__ import annotations

import ast
import base64
import hashlib
import io
import json
import os
import re
import subprocess
import sys
import time
import zipfile
from pathlib import Path

import pytest
from django.test import Client

import tallylog
from tallylog.cli import main
from tallylog.web import tools
from tests.support.serverproc import Server, init_home, request
from tests.support.wheels import wheels_with_dependencies

PACKAGE = Path(tallylog.__file__).parent


def test_the_wheel_is_the_same_bytes_each_time_and_holds_only_the_auditors_modules() -> None:
    first = tools.tool_wheel()
    tools.tool_wheel.cache_clear()
    again = tools.tool_wheel()
    assert again.data == first.data and again.sha256 == hashlib.sha256(first.data).hexdigest()
    assert first.name == f"tallylog_audit-{tallylog.__version__}-py3-none-any.whl"
    with zipfile.ZipFile(io.BytesIO(first.data)) as wheel:
        names = wheel.namelist()
        info = f"tallylog_audit-{tallylog.__version__}.dist-info"
        modules = sorted(n for n in names if not n.startswith(info))
        assert modules == sorted(
            ["tallylog/__init__.py", "tallylog/py.typed", "tallylog/leaf.py", "tallylog/cli/__init__.py",
             "tallylog/cli/audit.py", "tallylog/cli/auditcmds.py", "tallylog/cli/logcmds.py"]
            + [f"tallylog/tlog/{p.name}" for p in (PACKAGE / "tlog").glob("*.py")]
        )
        for name in modules:
            assert wheel.read(name) == (PACKAGE / name.removeprefix("tallylog/")).read_bytes(), name
        metadata = wheel.read(f"{info}/METADATA").decode()
        assert [line for line in metadata.splitlines() if line.startswith("Requires-Dist:")] == [
            "Requires-Dist: cryptography>=42"
        ]
        assert "Name: tallylog-audit\n" in metadata
        assert wheel.read(f"{info}/entry_points.txt") == b"[console_scripts]\ntallylog-audit = tallylog.cli.audit:main\n"
        assert b"Tag: py3-none-any\n" in wheel.read(f"{info}/WHEEL")
        # RECORD: every other file, with its urlsafe-base64 SHA-256 and size (PEP 376, 427).
        rows = [line.split(",") for line in wheel.read(f"{info}/RECORD").decode().splitlines()]
        assert sorted(r[0] for r in rows) == sorted(names)
        for path, digest, size in rows:
            if path == f"{info}/RECORD":
                assert (digest, size) == ("", "")
                continue
            data = wheel.read(path)
            assert digest == "sha256=" + base64.urlsafe_b64encode(hashlib.sha256(data).digest()).rstrip(b"=").decode()
            assert int(size) == len(data)
        assert {i.date_time for i in wheel.infolist()} == {(1980, 1, 1, 0, 0, 0)}


def _imports(tree: ast.Module, *, top_level: bool) -> set[str]:
    nodes = tree.body if top_level else list(ast.walk(tree))
    found = set()
    for node in nodes:
        if isinstance(node, ast.Import):
            found.update(a.name for a in node.names)
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            found.add(node.module)
            found.update(f"{node.module}.{a.name}" for a in node.names)
    return found


def test_the_shipped_modules_import_only_the_standard_library_cryptography_and_each_other() -> None:
    shipped = {"tallylog." + p.removesuffix(".py").removesuffix("/__init__").replace("/", ".") for p in tools.shipped_files()
               if p.endswith(".py")} | {"tallylog"}

    def allowed(name: str) -> bool:
        top = name.split(".")[0]
        if top == "tallylog":
            return name in shipped or name.rsplit(".", 1)[0] in shipped  # a module, or a name from one
        return top in sys.stdlib_module_names or top in ("cryptography", "__future__")

    for path in tools.shipped_files():
        if not path.endswith(".py"):
            continue
        tree = ast.parse((PACKAGE / path).read_text())
        # What the auditor's commands can reach: everything these modules import anywhere;
        # the two shared with the full command import the rest of tallylog only in the
        # functions of commands the wheel does not register (keygen, log append, Django).
        every = path.startswith("tlog/") or path in ("leaf.py", "cli/audit.py", "cli/auditcmds.py")
        names = _imports(tree, top_level=not every) - {"tqdm", "tqdm.tqdm"}  # optional: a progress bar
        assert all(allowed(n) for n in names), (path, sorted(n for n in names if not allowed(n)))


def test_the_site_serves_it_and_the_transparency_page_gives_its_sha256_and_commands(log, campaign) -> None:
    wheel = tools.tool_wheel()
    client = Client(HTTP_ACCEPT_LANGUAGE="en")
    response = client.get(f"/log/tools/{wheel.name}")
    assert response.status_code == 200 and response.content == wheel.data
    assert response["Content-Type"] == "application/octet-stream" and response["Cache-Control"] == "public, max-age=300"
    sums = client.get("/log/tools/SHA256SUMS")
    assert sums.status_code == 200 and sums.content == f"{wheel.sha256}  {wheel.name}\n".encode()
    assert client.get("/log/tools/tallylog-0.1.0-py3-none-any.whl").status_code == 404
    assert client.get("/log/tools/../checkpoint").status_code == 404
    assert f"tools/{wheel.name}" in client.get("/log/").content.decode()
    index = client.get("/log/tools/")
    assert index.status_code == 200 and f"{wheel.name}\nSHA256SUMS\n" in index.content.decode()

    page = client.get("/transparency/").content.decode()
    assert f'<span class="mono break" id="tools-sha256">{wheel.sha256}</span>' in page
    assert f'href="/log/tools/{wheel.name}"' in page
    assert "pip install tallylog" not in page
    commands = re.search(r'<pre id="tools-commands">(.*?)</pre>', page, re.S)
    assert commands
    lines = commands.group(1).splitlines()
    assert lines[:4] == [
        f"curl -O http://testserver/log/tools/{wheel.name}",
        f"echo \"{wheel.sha256}  {wheel.name}\" | sha256sum -c",
        "python3 -m venv tallylog-audit",
        f"tallylog-audit/bin/pip install ./{wheel.name}",
    ]
    assert lines[4].startswith(f"tallylog-audit/bin/tallylog-audit verify http://testserver/log/ --key {log.verifier_key}")
    assert 'href="/verify/">the browser check</a>' in page  # beside it: checking without installing anything
    for language, words in (("zh-hans", "审计工具来自本网站"), ("zh-hant", "審計工具來自本網站")):
        assert words in Client(HTTP_ACCEPT_LANGUAGE=language).get("/transparency/").content.decode()


def test_export_static_and_init_write_it_for_mirrors_and_nginx(tmp_path: Path, log, campaign) -> None:
    wheel = tools.tool_wheel()
    assert main(["export-static", str(tmp_path / "site"), "--quiet"]) == 0
    exported = tmp_path / "site/log/tools"
    assert (exported / wheel.name).read_bytes() == wheel.data
    assert (exported / "SHA256SUMS").read_bytes() == wheel.sums
    assert "/log/tools/*\n  Content-Type: application/octet-stream\n  Cache-Control: public, max-age=300\n" in (
        tmp_path / "site/_headers"
    ).read_text()
    page = (tmp_path / "site/en/transparency/index.html").read_text()
    assert f'href="../../log/tools/{wheel.name}"' in page and f"curl -O MIRROR/log/tools/{wheel.name}" in page
    # Written again only when it differs; an older version's wheel goes.
    old = log.log_dir / "tools" / "tallylog_audit-0.0.9-py3-none-any.whl"
    tools.write_tools(log.log_dir)
    old.write_bytes(b"old")
    before = (log.log_dir / "tools" / wheel.name).stat().st_mtime_ns
    time.sleep(0.01)
    tools.write_tools(log.log_dir)
    assert not old.exists() and (log.log_dir / "tools" / wheel.name).stat().st_mtime_ns == before


@pytest.mark.server
@pytest.mark.slow
def test_installed_from_the_site_into_a_fresh_venv_it_checks_the_served_log(tmp_path: Path) -> None:
    home = tmp_path / "home"
    init_home(home)
    wheel = tools.tool_wheel()
    assert (home / "log/tools" / wheel.name).read_bytes() == wheel.data  # `init` wrote it
    server = Server(home, tmp_path / "logs", args=("--workers", "1"), env_extra={"TALLYLOG_SEQUENCER_INTERVAL": "0.1"})
    server.start()
    try:
        receipts = []
        for alias in ("Lin", "Wang", "Zhao"):
            r = server.post("/api/v1/campaigns/three-withdrawals/declarations", {"alias": alias, "orgs": ["party", "league"]})
            assert r.status == 201, r.text
            receipts.append(r.json()["receipt"])
        deadline = time.monotonic() + 60
        while int(server.get("/log/checkpoint").text.splitlines()[1]) < 3:
            assert time.monotonic() < deadline, "the declarations were not sequenced"
            time.sleep(0.2)
        vkey = re.search(r"verifier key: (\S+)", server.get("/log/").text).group(1)  # type: ignore[union-attr]
        log_url = f"http://127.0.0.1:{server.port}/log/"

        # What the transparency page says to do: download, check the SHA-256, install.
        page = server.get("/transparency/", headers={"Accept-Language": "en"}).text
        sha = re.search(r'id="tools-sha256">([0-9a-f]{64})<', page).group(1)  # type: ignore[union-attr]
        downloaded = server.get(f"/log/tools/{wheel.name}").body
        assert hashlib.sha256(downloaded).hexdigest() == sha
        assert server.get("/log/tools/SHA256SUMS").text == f"{sha}  {wheel.name}\n"
        wheels = tmp_path / "wheels"
        wheels.mkdir()
        (wheels / wheel.name).write_bytes(downloaded)
        wheels_with_dependencies(["cryptography"], wheels)  # from this environment: no network
        venv = tmp_path / "venv"
        env = {k: v for k, v in os.environ.items() if not k.startswith(("PYTHON", "PIP_", "DJANGO", "TALLYLOG"))}
        env["PIP_CONFIG_FILE"] = os.devnull
        subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True, env=env, timeout=300)
        subprocess.run(
            [venv / "bin/pip", "install", "-q", "--no-index", "--find-links", wheels, wheels / wheel.name],
            check=True, env=env, timeout=300, cwd=tmp_path,
        )
        def python(code: str) -> subprocess.CompletedProcess[str]:
            return subprocess.run([venv / "bin/python", "-c", code], env=env, capture_output=True, text=True, cwd=tmp_path)

        assert python("import django").returncode != 0  # the tools run without it
        assert python("import tallylog.web").returncode != 0  # and without the site
        where = python("import tallylog.tlog; print(tallylog.tlog.__file__)").stdout
        assert where.startswith(str(venv)), where

        def audit(*args: object, ok: bool = True) -> str:
            done = subprocess.run([venv / "bin/tallylog-audit", *map(str, args)], env=env, capture_output=True,
                                  text=True, timeout=120, cwd=tmp_path)
            assert (done.returncode == 0) is ok, (args, done.stdout, done.stderr)
            return done.stdout + done.stderr

        out = audit("verify", log_url, "--key", vkey, "--state", tmp_path / "state")
        assert out.startswith("OK: ") and "size 3" in out and "all verify" in out
        tally = json.loads(audit("recount", log_url, "--key", vkey, "--json"))
        assert tally["campaigns"]["three-withdrawals"]["total"] == 3
        assert tally["campaigns"]["three-withdrawals"]["orgs"] == {"league": 3, "party": 3}
        found = audit("check-receipt", receipts[1], "--source", log_url, "--key", vkey, "--save", tmp_path / "mine.proof")
        assert "OK: your entry is number" in found
        assert "is in" in audit("verify-proof", tmp_path / "mine.proof", "--key", vkey)
        assert json.loads(audit("prove", log_url, "--key", vkey, "--index", "2"))["tree_size"] == 3
        # A wrong key, or a log that lies, fails.
        other = subprocess.run([sys.executable, "-m", "tallylog.cli", "keygen", "--origin", "localhost/tallylog",
                                "--out", tmp_path / "other.key"], capture_output=True, text=True, check=True, env={**env, "PYTHONPATH": str(Path(tallylog.__file__).parents[1])})
        wrong = other.stdout.strip().splitlines()[-1]
        assert "bad signature" in audit("verify", log_url, "--key", wrong, ok=False)
        assert request(server.port, "GET", "/log/tools/nothing.whl").status == 404
    finally:
        server.stop()
