"""`tallylog import`: exit statuses, messages, and a kill -9 in the middle of an import."""

from __future__ import annotations

import os
import signal
import sqlite3
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING

import pytest

from tallylog.cli import main
from tallylog.registry.campaigns.models import Campaign
from tallylog.registry.declarations.models import Declaration
from tests.registry.imports.conftest import write_jsonl

if TYPE_CHECKING:
    from tallylog.home import Home

REPO = Path(__file__).resolve().parents[3]


@pytest.mark.django_db
def test_import_prints_a_summary_and_exits_3_when_rows_were_rejected(
    campaign: Campaign, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = write_jsonl(
        tmp_path / "in.jsonl",
        [{"alias": "a", "orgs": ["party"]}, {"alias": "b", "orgs": ["nope"]}],
    )
    assert main(["import", str(path), "--campaign", campaign.slug]) == 3
    out, err = capsys.readouterr()
    assert f"{path}: imported 1 declarations into three-withdrawals" in out
    assert f"1 rows rejected, listed in {path}.report.csv" in err
    assert "Unknown organisation: nope." in (tmp_path / "in.jsonl.report.csv").read_text()
    # Again: nothing more to do, and the status still says rows were rejected.
    assert main(["import", str(path), "--campaign", campaign.slug]) == 3
    assert "already imported into three-withdrawals (1 rows, 1 rejected)" in capsys.readouterr().out
    assert Declaration.objects.count() == 1


@pytest.mark.django_db
def test_import_of_a_clean_file_exits_0(campaign: Campaign, tmp_path: Path) -> None:
    path = tmp_path / "in.txt"
    path.write_text("alias,orgs\nx,party\n")
    report = tmp_path / "rep.csv"
    assert main(["import", str(path), "--campaign", campaign.slug, "--format", "csv", "--report", str(report)]) == 0
    assert report.read_bytes() == b"line,field,reason\r\n"
    assert Declaration.objects.get().alias == "x"


@pytest.mark.django_db
@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--campaign", "nope"], "tallylog import: no campaign 'nope'"),
        (["--campaign", "three-withdrawals", "--format", "csv"], "unknown column 'alias2'"),
        (["--campaign", "three-withdrawals", "--batch", "0"], "--batch must be at least 1"),
    ],
)
def test_import_errors_are_clear_and_save_nothing(
    campaign: Campaign, tmp_path: Path, capsys: pytest.CaptureFixture[str], args: list[str], message: str
) -> None:
    path = tmp_path / "in.csv"
    path.write_text("alias2,orgs\nx,party\n")
    assert main(["import", str(path), *args]) == 1
    assert message in capsys.readouterr().err
    assert Declaration.objects.count() == 0


def test_import_needs_a_format_it_can_tell(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    path = tmp_path / "in.txt"
    path.write_text("")
    assert main(["import", str(path), "--campaign", "x"]) == 1
    assert "cannot tell the format from the name; give --format" in capsys.readouterr().err
    assert main(["import", str(tmp_path / "missing.csv"), "--campaign", "x"]) == 1
    assert "missing.csv: no such file" in capsys.readouterr().err


def _env(home: Path) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k != "DATABASE_URL"}  # SQLite in the home
    env.update(TALLYLOG_HOME=str(home), DJANGO_SETTINGS_MODULE="tallylog.settings")
    return env


SETUP = """
import django
django.setup()
from django.core.management import call_command
call_command("migrate", verbosity=0)
from tallylog.registry.campaigns.defaults import ensure_default_campaign
ensure_default_campaign()
"""


@pytest.mark.server
def test_kill_9_in_the_middle_of_an_import_then_resume_imports_each_row_once(tmp_path: Path) -> None:
    from tallylog.home import Home

    home = Home.from_env(tmp_path / "home")
    home.ensure()
    env = _env(home.path)
    subprocess.run([sys.executable, "-c", SETUP], env=env, check=True, cwd=REPO)
    n = 60_000
    rows = [{"alias": f"a{i}", "orgs": ["party"]} if i % 1000 else {"alias": ""} for i in range(1, n + 1)]
    path = write_jsonl(tmp_path / "big.jsonl", rows)
    good = sum(1 for r in rows if r.get("alias"))
    cmd = [sys.executable, "-m", "tallylog.cli", "import", str(path), "--campaign", "three-withdrawals", "--batch", "700"]

    proc = subprocess.Popen(cmd, env=env, cwd=REPO, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    db = sqlite3.connect(f"file:{home.db_path}?mode=ro", uri=True, timeout=30)
    try:
        done = 0
        while proc.poll() is None and done < 5 * 700:  # wait for a few committed batches
            time.sleep(0.01)
            row = db.execute("SELECT lines_done FROM imports_importrun").fetchone()
            done = row[0] if row else 0
        os.kill(proc.pid, signal.SIGKILL)
        proc.wait()
        assert proc.returncode == -signal.SIGKILL, proc.stderr.read() if proc.stderr else ""
        lines_done, finished = db.execute("SELECT lines_done, finished_at FROM imports_importrun").fetchone()
        assert finished is None and 0 < lines_done < n, "the import was not interrupted"
        committed = db.execute("SELECT count(*) FROM declarations_declaration").fetchone()[0]
        assert committed == lines_done - lines_done // 1000  # every committed line, nothing more

        again = subprocess.run(cmd, env=env, cwd=REPO, capture_output=True, text=True)
        assert again.returncode == 3, again.stderr
        assert f"resumed after line {lines_done}" in again.stdout
        total, distinct = db.execute(
            "SELECT count(*), count(DISTINCT alias) FROM declarations_declaration"
        ).fetchone()
        entries = db.execute("SELECT count(*) FROM entries_logentry").fetchone()[0]
        assert total == distinct == entries == good
        imported, rejected = db.execute("SELECT imported, rejected FROM imports_importrun").fetchone()
        assert (imported, rejected) == (good, n - good)
    finally:
        db.close()
        if proc.poll() is None:
            proc.kill()


@pytest.fixture
def signed_home(tmp_path: Path) -> Iterator[Home]:
    """A home with a signing key, the settings pointing at it (for ``--sequence``)."""
    from django.test import override_settings

    from tallylog.composition import ensure_signing_key, reset_log_for_tests
    from tallylog.home import Home

    home = Home.from_env(tmp_path / "home")
    home.ensure()
    ensure_signing_key(home, "example.org/import-test")
    with override_settings(TALLYLOG_HOME=str(home.path)):
        reset_log_for_tests()
        yield home
    reset_log_for_tests()


@pytest.mark.django_db(transaction=True)
def test_import_then_sequence_logs_every_row_with_its_historical_date(
    tmp_path: Path, signed_home: Home, capsys: pytest.CaptureFixture[str]
) -> None:
    from tallylog import leaf
    from tallylog.registry.campaigns.defaults import ensure_default_campaign
    from tallylog.registry.entries.models import LogState

    campaign = ensure_default_campaign()[0]
    home = signed_home
    path = write_jsonl(
        tmp_path / "in.jsonl",
        [{"alias": f"a{i}", "orgs": ["party"], "declared_on": "2004-12-01"} for i in range(300)],
    )
    assert main(["import", str(path), "--campaign", campaign.slug, "--sequence"]) == 0
    assert "sequenced 300 entries into the log" in capsys.readouterr().out
    assert LogState.current().size == 300
    assert (home.log_dir / "tile/entries/000").is_file() and (home.log_dir / "tile/entries/001.p/44").is_file()
    for d in Declaration.objects.select_related("entry"):
        parsed = leaf.parse_leaf(bytes(d.entry.leaf))
        assert parsed["channel"] == "import"
        assert parsed["commit"] == leaf.commitment(bytes(d.salt), d.public_content())
        assert d.public_content()["declared_on"] == "2004-12-01"


@pytest.mark.server
@pytest.mark.django_db(transaction=True)
def test_import_sequence_queues_when_a_sequencer_holds_the_lock(
    tmp_path: Path, signed_home: Home, capsys: pytest.CaptureFixture[str]
) -> None:
    from tallylog.registry.campaigns.defaults import ensure_default_campaign
    from tallylog.registry.entries.models import LogEntry, LogState
    from tests.registry.entries.test_sequencer import holding_the_lease

    campaign = ensure_default_campaign()[0]
    path = write_jsonl(tmp_path / "in.jsonl", [{"alias": f"a{i}", "orgs": ["party"]} for i in range(7)])
    with holding_the_lease(signed_home):
        assert main(["import", str(path), "--campaign", campaign.slug, "--sequence"]) == 0
    assert "a sequencer is running: it logs the imported entries" in capsys.readouterr().out
    assert LogEntry.objects.awaiting_sequence().count() == 7 and LogState.current().size == 0
