"""The email intake end to end, every part real and in its own process: a message in a
Dovecot mailbox → ``tallylog mail-intake`` → the declaration held in the console's review
queue → a moderator publishes it over HTTP → ``tallylog serve``'s sequencer logs it → the
reply on the loopback SMTP server carries the code → the receipt check finds the entry.
The sender's address is then in no table, no file of the home, no log line."""

from __future__ import annotations

import json
import re
import sqlite3
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from aiosmtpd.controller import Controller

from tests.support.imap import Dovecot, message, running_dovecot
from tests.support.mail import Mailbox, text_of
from tests.support.serverproc import (
    Server,
    WebClient,
    free_port,
    init_home,
    run_cli,
    server_env,
    tallylog_command,
)
from tests.support.staff import PASSWORD

pytestmark = pytest.mark.server

SENDER = "lin.declarant@example.net"
CODE = re.compile(r"\d{5}-\d{5}-\d{5}-\d{5}-\d{5}")


@pytest.fixture
def dovecot() -> Iterator[Dovecot]:
    with running_dovecot() as server:
        yield server


@pytest.fixture
def smtp() -> Iterator[tuple[Mailbox, int]]:
    box = Mailbox()
    controller = Controller(box, hostname="127.0.0.1", port=free_port())
    controller.start()
    try:
        yield box, controller.port
    finally:
        controller.stop()


def intake_home(tmp_path: Path, dovecot: Dovecot, smtp_port: int) -> tuple[Path, dict[str, str]]:
    """A new home, and the environment of a tallylog command reading ``dovecot``'s mailbox
    and replying through the SMTP server on ``smtp_port``."""
    home = tmp_path / "home"
    init_home(home)
    return home, server_env(
        home,
        TALLYLOG_INTAKE_IMAP_URL=dovecot.url,
        TALLYLOG_EMAIL_HOST="127.0.0.1",
        TALLYLOG_EMAIL_PORT=str(smtp_port),
        TALLYLOG_EMAIL_FROM="intake@tallylog.test",
    )


def wait_for(condition, what: str, limit: float = 60):  # noqa: ANN001, ANN201
    deadline = time.monotonic() + limit
    while not (result := condition()):
        assert time.monotonic() < deadline, f"no {what} after {limit} s"
        time.sleep(0.1)
    return result


def test_a_mailed_declaration_from_mailbox_to_log(
    tmp_path: Path, dovecot: Dovecot, smtp: tuple[Mailbox, int]
) -> None:
    box, smtp_port = smtp
    home, env = intake_home(tmp_path, dovecot, smtp_port)
    added = subprocess.run(
        [*tallylog_command(), "staff", "add", "mod", "--role", "moderator", "--password-stdin", "--home", str(home)],
        input=PASSWORD + "\n", env=env, capture_output=True, text=True, timeout=120,
    )
    assert added.returncode == 0, added.stderr

    dovecot.append(message("化名：邮件里的小明\n退出：党 团 队\n地区：广东\n声明：我早就想退了。", sender=SENDER))
    intake = run_cli(home, "mail-intake", env=env)
    assert intake.returncode == 0, intake.stderr
    assert intake.stdout.strip() == (
        "mail intake: 1 held for review, 0 answered again, 0 refused, 0 deleted unanswered, "
        "0 whose reply address was refused, 0 left in the mailbox"
    )
    assert dovecot.messages() == []
    reply = box.only_to(SENDER)
    assert reply["Subject"] == "您的来信" and reply["From"] == "intake@tallylog.test"
    code = CODE.findall(text_of(reply))[0]

    server = Server(home, tmp_path / "logs")
    server.start()
    try:
        # Pending: the receipt finds it, not yet in the log.
        pending = server.post("/api/v1/receipts", {"code": code})
        assert pending.status == 200 and pending.json()["status"] == "pending", pending.text
        # The moderator sees it in the review queue, with its channel, and publishes it.
        client = WebClient(server.port)
        client.submit("/console/login/", {"username": "mod", "password": PASSWORD})
        queue = client.get("/console/review/")
        assert queue.status == 200 and "邮件里的小明" in queue.text and "电子邮件" in queue.text, queue.text
        done = client.submit("/console/review/", {"decision": "publish"})
        assert done.status == 200 and "邮件里的小明" not in done.text
        # The sequencer logs it; the code's receipt check finds it with its index.
        found = wait_for(
            lambda: (r := server.post("/api/v1/receipts", {"code": code})).json().get("index") is not None and r,
            "log index for the mailed declaration",
        )
        assert found.json()["status"] == "published"
        index = found.json()["index"]
        page = client.submit("/receipt/", {"code": code})
        assert page.status == 200 and "邮件里的小明" in page.text and str(index) in page.text
        entry = json.loads(found.json()["leaf"])
        assert entry["channel"] == "email"
    finally:
        server.stop()

    # The address: in no table, no file of the home, no log line.
    with sqlite3.connect(home / "db.sqlite3") as db:
        dump = "\n".join(db.iterdump())
    assert "邮件里的小明" in dump  # the dump is the database's content
    for needle in (SENDER, "lin.declarant"):
        assert needle not in dump
        for path in home.rglob("*"):
            if path.is_file():
                assert needle.encode() not in path.read_bytes(), path
        for path in (tmp_path / "logs").iterdir():
            assert needle not in path.read_text(errors="replace"), path
        assert needle not in intake.stdout + intake.stderr
        assert needle not in dovecot.log()


def test_mail_intake_refuses_to_run_without_a_mailbox_or_with_a_bad_one(tmp_path: Path) -> None:
    home = tmp_path / "home"
    init_home(home)
    missing = run_cli(home, "mail-intake")
    assert missing.returncode == 1
    assert "TALLYLOG_INTAKE_IMAP_URL is not set" in missing.stderr and "Traceback" not in missing.stderr
    bad = run_cli(home, "mail-intake", env=server_env(home, TALLYLOG_INTAKE_IMAP_URL="imap://u:hunter2@mail.example.org"))
    assert bad.returncode == 1 and "Traceback" not in bad.stderr
    assert "tallylog.E024: TALLYLOG_INTAKE_IMAP_URL must be an imaps:// URL" in bad.stderr
    assert "hunter2" not in bad.stderr
    down = run_cli(home, "mail-intake", env=server_env(home, TALLYLOG_INTAKE_IMAP_URL=f"imap://u:p@127.0.0.1:{free_port()}"))
    assert down.returncode == 1 and "couldn't read the mailbox" in down.stderr and "Traceback" not in down.stderr


def test_every_mail_intake_option_is_documented() -> None:
    import argparse

    from tallylog.cli import build_parser

    doc = (Path(__file__).resolve().parents[2] / "docs" / "email-intake.md").read_text()
    sub = next(a for a in build_parser()._actions if isinstance(a, argparse._SubParsersAction))
    assert "tallylog mail-intake" in doc
    for action in sub.choices["mail-intake"]._actions:
        for option in action.option_strings:
            if option.startswith("--") and option not in ("--help", "--home"):  # every command's
                assert option in doc, option


def test_mail_intake_every_seconds_keeps_reading_and_outlives_a_relay_that_is_down(
    tmp_path: Path, dovecot: Dovecot, smtp: tuple[Mailbox, int]
) -> None:
    box, smtp_port = smtp
    home, env = intake_home(tmp_path, dovecot, smtp_port)

    def relay_down(envelope: object) -> None:
        raise ConnectionResetError("down")

    box.on_data = relay_down
    dovecot.append(message("化名：小明\n退出：党", sender=SENDER))
    out, err = tmp_path / "intake.out", tmp_path / "intake.err"
    with open(out, "wb") as stdout, open(err, "wb") as stderr:
        proc = subprocess.Popen(
            [*tallylog_command(), "mail-intake", "--every", "0.2", "--home", str(home)],
            env=env, stdout=stdout, stderr=stderr, start_new_session=True,
        )
    try:
        wait_for(lambda: "couldn't send a reply" in err.read_text(), "report of the relay being down")
        assert proc.poll() is None  # still reading
        box.on_data = None
        first = wait_for(lambda: box.to(SENDER), "reply once the relay is back")
        dovecot.append(message("alias: Ming\nwithdraw: party", sender="ming@example.org", message_id="<m2@example.org>"))
        wait_for(lambda: box.to("ming@example.org"), "reply to the second message")
        assert dovecot.messages() == []
    finally:
        proc.terminate()
        proc.wait(timeout=30)
    assert len(first) == 1
    report = out.read_text()
    # Held in the pass whose reply failed (stderr), answered again once the relay was back.
    assert [line.split(",")[:2] for line in report.splitlines()] == [
        ["mail intake: 0 held for review", " 1 answered again"],
        ["mail intake: 1 held for review", " 0 answered again"],
    ], report
    assert "couldn't send a reply: SMTP" in err.read_text()
    assert SENDER not in report + err.read_text()
