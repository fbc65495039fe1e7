"""A REAL IMAP server for the email intake's tests: Debian's Dovecot (scripts/test-deps.sh
installs dovecot-imapd), started with a throwaway configuration in a temporary directory:
one user in a passwd file, its Maildir there too, listening on two loopback ports (plain
IMAP, and IMAP over TLS with a self-signed certificate), no system service touched. Messages are delivered by IMAP APPEND, as a mail server's local
delivery would leave them."""

from __future__ import annotations

import imaplib
import os
import pwd
import shutil
import socket
import subprocess
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

from tests.support.serverproc import free_port
from tests.support.tls import make_certificate

DOVECOT = Path("/usr/sbin/dovecot")
USER = "intake"
PASSWORD = "throwaway password"


@dataclass
class Dovecot:
    """``start()`` it, ``url`` is the TALLYLOG_INTAKE_IMAP_URL of its one mailbox; ``stop()``."""

    root: Path = field(default_factory=lambda: Path(tempfile.mkdtemp(prefix="tallylog-dovecot-")))
    port: int = field(default_factory=free_port)
    tls_port: int = field(default_factory=free_port)  # imaps, with ``certificate`` (self-signed, for localhost)
    proc: subprocess.Popen[bytes] | None = None

    def __post_init__(self) -> None:
        while self.tls_port == self.port:  # two free ports, not the same one twice
            self.tls_port = free_port()

    @property
    def url(self) -> str:
        return f"imap://{USER}:{PASSWORD.replace(' ', '%20')}@127.0.0.1:{self.port}/INBOX"

    @property
    def tls_url(self) -> str:
        return f"imaps://{USER}:{PASSWORD.replace(' ', '%20')}@localhost:{self.tls_port}/INBOX"

    @property
    def certificate(self) -> Path:
        return self.root / "certs" / "fullchain.pem"

    @property
    def log_path(self) -> Path:
        return self.root / "dovecot.log"

    def start(self, timeout: float = 30) -> None:
        assert DOVECOT.exists(), "Dovecot is missing: run scripts/test-deps.sh (apt-get install dovecot-imapd)"
        self.root.chmod(0o755)  # the mail processes run as Dovecot's user when we are root
        for name in ("run", "state", "home"):
            (self.root / name).mkdir(exist_ok=True)
        if os.getuid() == 0:
            owner = pwd.getpwnam("dovecot")
            uid, gid, users = owner.pw_uid, owner.pw_gid, ""
        else:
            me = pwd.getpwuid(os.getuid()).pw_name
            uid, gid = os.getuid(), os.getgid()
            users = f"default_internal_user = {me}\ndefault_login_user = {me}\n"
        os.chown(self.root / "home", uid, gid)
        make_certificate(self.root / "certs", "localhost")
        (self.root / "passwd").write_text(f"{USER}:{{PLAIN}}{PASSWORD}::::::\n")
        (self.root / "dovecot.conf").write_text(
            f"""base_dir = {self.root}/run
state_dir = {self.root}/state
log_path = {self.log_path}
protocols = imap
listen = 127.0.0.1
ssl = yes
ssl_cert = <{self.root}/certs/fullchain.pem
ssl_key = <{self.root}/certs/privkey.pem
disable_plaintext_auth = no
auth_mechanisms = plain login
first_valid_uid = 0
mail_location = maildir:{self.root}/home/%u/Maildir
{users}passdb {{
  driver = passwd-file
  args = scheme=PLAIN username_format=%u {self.root}/passwd
}}
userdb {{
  driver = static
  args = uid={uid} gid={gid} home={self.root}/home/%u
}}
service imap-login {{
  inet_listener imap {{
    address = 127.0.0.1
    port = {self.port}
  }}
  inet_listener imaps {{
    address = 127.0.0.1
    port = {self.tls_port}
    ssl = yes
  }}
}}
service anvil {{
  chroot =
}}
"""
        )
        with open(self.root / "dovecot.out", "wb") as out:
            # -F: in the foreground, so that this process is Dovecot's master and stop() ends it.
            self.proc = subprocess.Popen(
                [str(DOVECOT), "-F", "-c", str(self.root / "dovecot.conf")],
                stdin=subprocess.DEVNULL, stdout=out, stderr=subprocess.STDOUT, start_new_session=True,
            )
        deadline = time.monotonic() + timeout
        while True:
            try:
                with socket.create_connection(("127.0.0.1", self.port), timeout=2) as s:
                    if s.recv(100).startswith(b"* OK"):
                        return
            except OSError:
                pass
            if self.proc.poll() is not None or time.monotonic() > deadline:
                output = (self.root / "dovecot.out").read_text(errors="replace") + self.log()
                self.stop()
                raise RuntimeError(f"Dovecot did not start:\n{output}")
            time.sleep(0.05)

    def stop(self) -> None:
        """End Dovecot (its master stops its children) and remove its directory."""
        if self.proc is not None and self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(timeout=30)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(timeout=30)
        self.proc = None
        shutil.rmtree(self.root, ignore_errors=True)

    def log(self) -> str:
        return self.log_path.read_text(errors="replace") if self.log_path.exists() else ""

    def _session(self) -> imaplib.IMAP4:
        imap = imaplib.IMAP4("127.0.0.1", self.port, timeout=30)
        imap.login(USER, PASSWORD)
        imap.select("INBOX")
        return imap

    def append(self, raw: bytes) -> None:
        """Deliver ``raw`` (an RFC 5322 message) to the mailbox."""
        imap = self._session()
        try:
            status, detail = imap.append("INBOX", None, None, raw)
            assert status == "OK", detail
        finally:
            imap.logout()

    def messages(self) -> list[bytes]:
        """Every message in the mailbox (deleted or not, unless expunged), oldest first."""
        imap = self._session()
        try:
            _, data = imap.uid("SEARCH", "ALL")
            found = []
            for uid in data[0].split():
                _, fetched = imap.uid("FETCH", uid.decode(), "(BODY.PEEK[])")
                found.extend(item[1] for item in fetched if isinstance(item, tuple))
            return found
        finally:
            imap.logout()

    def files(self) -> list[Path]:
        """Every file of the mailbox on disk (the Maildir and Dovecot's indexes)."""
        return [p for p in (self.root / "home").rglob("*") if p.is_file()]


def message(
    text: str,
    *,
    sender: str = "lin.declarant@example.net",
    message_id: str | None = "<m1@example.net>",
    subject: str = "你好",
    charset: str = "utf-8",
    html: bool = False,
    headers: dict[str, str] | None = None,
) -> bytes:
    """An RFC 5322 message from ``sender`` whose only text is ``text``, as bytes."""
    from email.message import EmailMessage
    from email.policy import SMTP

    msg = EmailMessage()
    msg["From"] = sender
    msg["To"] = "intake@tallylog.test"
    msg["Subject"] = subject
    msg["Date"] = "Thu, 03 Dec 2026 10:00:00 +0000"
    if message_id is not None:
        msg["Message-ID"] = message_id
    for name, value in (headers or {}).items():
        msg[name] = value
    if html:
        msg.set_content(text, subtype="html", charset=charset)
    else:
        msg.set_content(text, charset=charset)
    return msg.as_bytes(policy=SMTP)


@contextmanager
def running_dovecot() -> Iterator[Dovecot]:
    """A started ``Dovecot``, stopped (and its directory removed) afterwards."""
    server = Dovecot()
    server.start()
    try:
        yield server
    finally:
        server.stop()
