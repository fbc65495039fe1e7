"""Debian's nginx in front of the real ``tallylog serve``, with TLS, configured with exactly
the ``nginx`` block docs/deploy.md prints (only its placeholders replaced) and the proxy
settings of its "Behind a proxy" section.

Through it: the declare form works (CSRF over https), HSTS and Secure cookies are set, each
client address is its own source for the rate limits, and a forged ``X-Forwarded-For``
does not change a client's source."""

from __future__ import annotations

import os
import re
import shutil
import ssl
import subprocess
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from tests.support.serverproc import (
    CAMPAIGN,
    REPO,
    Response,
    Server,
    WebClient,
    free_port,
    init_home,
    request,
    shared_cache_dir,
)
from tests.support.tls import make_certificate

pytestmark = pytest.mark.server  # starts subprocesses (see tests/conftest.py)

DEPLOY = REPO / "docs" / "deploy.md"
NGINX = shutil.which("nginx") or "/usr/sbin/nginx"
HOST = "example.org"
# The placeholders of the doc's block: what the test puts in their place.
PLACEHOLDERS = ("listen 443 ssl http2;", "/etc/ssl/tallylog/", "/var/lib/tallylog/", "127.0.0.1:8000")


def deploy_block() -> str:
    """The one ```nginx block of docs/deploy.md."""
    blocks = re.findall(r"```nginx\n(.*?)```", DEPLOY.read_text(), re.DOTALL)
    assert len(blocks) == 1, "docs/deploy.md must print exactly one nginx block"
    return blocks[0]


@dataclass
class Front:
    port: int
    tls: ssl.SSLContext
    server: Server

    @property
    def origin(self) -> str:
        return f"https://{HOST}:{self.port}"

    def headers(self, **extra: str) -> dict[str, str]:
        return {"Host": f"{HOST}:{self.port}", "Accept-Language": "en", **extra}

    def web(self, source: str) -> WebClient:
        return WebClient(self.port, source, headers=self.headers(Origin=self.origin), tls=self.tls)

    def post(self, path: str, body: object, source: str, **headers: str) -> Response:
        return request(self.port, "POST", path, body=body, source=source, headers=self.headers(**headers), tls=self.tls)


def nginx_conf(prefix: Path, certs: Path, home: Path, port: int, upstream: int) -> str:
    server = deploy_block()
    for placeholder in PLACEHOLDERS:
        assert placeholder in server, placeholder
    server = server.replace("listen 443 ssl http2;", f"listen 127.0.0.1:{port} ssl http2;")
    server = server.replace("/etc/ssl/tallylog/", f"{certs}/").replace("/var/lib/tallylog/", f"{home}/")
    server = server.replace("127.0.0.1:8000", f"127.0.0.1:{upstream}")
    temp = "\n".join(f"    {kind}_temp_path {prefix}/{kind};" for kind in ("client_body", "proxy", "fastcgi", "uwsgi", "scgi"))
    user = "user root;\n" if os.geteuid() == 0 else ""
    return (
        f"{user}daemon off;\nmaster_process on;\nworker_processes 1;\npid {prefix}/nginx.pid;\nerror_log stderr;\n"
        f"events {{ worker_connections 256; }}\nhttp {{\n{temp}\n{server}\n}}\n"
    )


@pytest.fixture(scope="module")
def front(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Front]:
    base = tmp_path_factory.mktemp("nginx")
    home, logs, prefix = base / "home", base / "logs", base / "nginx"
    prefix.mkdir()
    cert = make_certificate(base / "certs", HOST)
    init_home(home)
    port = free_port()
    env = {
        "TALLYLOG_SITE_URL": f"https://{HOST}:{port}",
        "TALLYLOG_TRUSTED_PROXIES": "1",
        "TALLYLOG_ALLOWED_HOSTS": f"{HOST},127.0.0.1",  # 127.0.0.1: the harness asks the server directly whether it is up
        "TALLYLOG_RATE_LIMITS": "declare=4/600,login=3/900",
    }
    server = Server(home, logs, env_extra=env, args=("--workers", "2"))
    server.start()
    (prefix / "nginx.conf").write_text(nginx_conf(prefix, cert.parent, home, port, server.port))
    err = open(logs / "nginx.err", "wb")  # noqa: SIM115 -- nginx writes to it until the fixture ends
    nginx = subprocess.Popen([NGINX, "-p", str(prefix), "-c", str(prefix / "nginx.conf")], stderr=err, start_new_session=True)
    tls = ssl.create_default_context(cafile=str(cert))
    front = Front(port, tls, server)
    try:
        deadline = time.monotonic() + 20
        while True:
            try:
                request(port, "GET", "/api/v1/log", headers=front.headers(), tls=tls, timeout=2)
                break
            except OSError:
                if nginx.poll() is not None or time.monotonic() > deadline:
                    raise AssertionError((logs / "nginx.err").read_text()) from None
                time.sleep(0.05)
        yield front
    finally:
        nginx.terminate()
        nginx.wait(timeout=10)
        err.close()
        server.stop()
        shutil.rmtree(shared_cache_dir(home), ignore_errors=True)


def test_the_declare_form_works_with_hsts_and_secure_cookies(front: Front) -> None:
    web = front.web("127.0.0.2")
    form = request(front.port, "GET", "/declare/", source="127.0.0.2", headers=front.headers(), tls=front.tls)
    assert form.status == 200
    assert form.headers["strict-transport-security"].startswith("max-age=31536000")
    cookies = [v for k, v in form.raw_headers if k.lower() == "set-cookie"]
    assert cookies and all("; Secure" in c for c in cookies), cookies
    page = web.submit("/declare/", {"alias": "过客", "orgs": ["pioneers"]})
    assert page.status == 200, page.text[:800]
    assert re.search(r"\d{5}-\d{5}-\d{5}-\d{5}-\d{5}", page.text), "no receipt code after declaring through nginx"


def test_each_client_is_its_own_source_and_cannot_forge_it(front: Front) -> None:
    api = f"/api/v1/campaigns/{CAMPAIGN}/declarations"
    body = {"orgs": ["party"]}
    # 127.0.0.3 uses its 4 declarations, each time claiming another address.
    codes = [front.post(api, {**body, "alias": f"甲{i}"}, "127.0.0.3", **{"X-Forwarded-For": f"10.1.1.{i}"}).status for i in range(6)]
    assert codes == [201] * 4 + [429] * 2
    # A forged header, or one naming another client, changes nothing.
    assert front.post(api, {**body, "alias": "乙"}, "127.0.0.3", **{"X-Forwarded-For": "127.0.0.4"}).status == 429
    # Each other client address is a source of its own.
    for n in (4, 5):
        assert [front.post(api, {**body, "alias": f"丙{n}{i}"}, f"127.0.0.{n}").status for i in range(4)] == [201] * 4


def test_failed_logins_from_one_client_do_not_lock_out_another(front: Front) -> None:
    for _ in range(3):
        assert front.web("127.0.0.6").submit("/admin/login/", {"username": "admin", "password": "guess"}).status == 200
    assert front.web("127.0.0.6").submit("/admin/login/", {"username": "admin", "password": "guess"}).status == 429
    assert front.web("127.0.0.7").submit("/admin/login/", {"username": "root", "password": "guess"}).status == 200
