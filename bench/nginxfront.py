"""Debian's nginx with TLS in front of a ``tallylog serve``, configured with exactly the block
docs/deploy.md prints (as tests/safety/test_nginx.py builds it), for ``bench api`` and
``bench web`` (``--through-nginx``). The server behind it needs ``TALLYLOG_TRUSTED_PROXIES=1``.
"""

from __future__ import annotations

import contextlib
import shutil
import ssl
import subprocess
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path

from bench.bench_web import _free_port


@contextlib.contextmanager
def nginx_front(home: Path, upstream: int, port: int | None = None) -> Iterator[int]:
    """nginx with TLS and docs/deploy.md's block in front of 127.0.0.1:``upstream``, on
    ``port`` (default: a free one); its port (its files in ``home/nginx``, its errors in
    ``home/nginx.log``). Form posts through it need the server's ``TALLYLOG_SITE_URL`` to be
    ``https://127.0.0.1:PORT`` (the block forwards the host without the port)."""
    from tests.safety.test_nginx import NGINX, make_certificate, nginx_conf

    prefix = home / "nginx"
    for leftover in (prefix, home / "certs"):  # a home kept between runs (bench web's)
        shutil.rmtree(leftover, ignore_errors=True)
    prefix.mkdir()
    cert = make_certificate(home / "certs")
    port = port or _free_port()
    (prefix / "nginx.conf").write_text(nginx_conf(prefix, cert.parent, home, port, upstream))
    with open(home / "nginx.log", "wb") as err:
        proc = subprocess.Popen([NGINX, "-p", str(prefix), "-c", str(prefix / "nginx.conf")], stderr=err, start_new_session=True)
        try:
            tls = ssl.create_default_context(cafile=str(cert))
            deadline = time.monotonic() + 30
            while True:
                try:
                    with urllib.request.urlopen(f"https://127.0.0.1:{port}/api/v1/log", timeout=2, context=tls) as r:
                        if r.status == 200:
                            break
                except OSError:
                    if time.monotonic() > deadline:
                        raise
                    time.sleep(0.1)
            yield port
        finally:
            proc.terminate()
            proc.wait(timeout=10)
