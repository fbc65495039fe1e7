"""System checks for configuration mistakes, with stable IDs (tag ``tallylog``).

Django runs them before commands; ``tallylog serve`` and ``tallylog sequence`` also run the
deployment ones (``run_tallylog_checks``) and refuse to start on an error.

- tallylog.E001  SECRET_KEY or TALLYLOG_RECEIPT_KEY missing (run ``tallylog init``)
- tallylog.E002  no signing key in the home (run ``tallylog init``)
- tallylog.E003  the signing key file cannot be read as a C2SP signed-note private key
- tallylog.E004  TALLYLOG_SEQUENCER_BATCH or TALLYLOG_SEQUENCER_INTERVAL out of range
- tallylog.E010 … E024  a setting's value is bad (``check_configuration``; each setting's
  ID is in docs/configuration.md and ``tallylog.config``)
- tallylog.W001  the signing key or secrets file is readable by other users
- tallylog.E005  the database, secrets or signing key is readable by other users
- tallylog.W002  the home directory is open to other users (not mode 0700)
"""

from __future__ import annotations

import stat
from pathlib import Path
from typing import Any

from django.conf import settings
from django.core.checks import CheckMessage, Error, Warning

from tallylog import config
from tallylog.home import Home


def check_secrets(app_configs: Any = None, **kwargs: Any) -> list[CheckMessage]:
    """tallylog.E001: the Django secret key and the receipt-hash key must be set."""
    errors: list[CheckMessage] = []
    for name, value in (("SECRET_KEY", settings.SECRET_KEY), ("TALLYLOG_RECEIPT_KEY", settings.TALLYLOG_RECEIPT_KEY)):
        if not value:
            errors.append(
                Error(
                    f"{name} is not set.",
                    hint="Run `tallylog init` to create the home's secrets file.",
                    id="tallylog.E001",
                )
            )
    return errors


def check_signing_key(app_configs: Any = None, **kwargs: Any) -> list[CheckMessage]:
    """tallylog.E002/E003/W001: the log's signing key exists, parses, and is private."""
    home = Home(config.build()[0].home)
    path = home.signing_key_path
    if not path.exists():
        return [
            Error(
                f"No signing key at {path}.",
                hint="Run `tallylog init` to create one.",
                id="tallylog.E002",
            )
        ]
    messages: list[CheckMessage] = []
    try:
        from tallylog.tlog import note

        note.Signer(path.read_text().strip())
    except Exception as exc:  # any failure to parse is this one configuration error
        messages.append(
            Error(f"The signing key {path} cannot be read: {exc}", id="tallylog.E003")
        )
    for private in (path, home.secrets_path):
        try:
            mode = private.stat().st_mode
        except FileNotFoundError:
            continue
        if mode & (stat.S_IRWXG | stat.S_IRWXO):
            messages.append(
                Warning(
                    f"{private} is readable by other users.",
                    hint=f"chmod 600 {private}",
                    id="tallylog.W001",
                )
            )
    return messages


def check_configuration(app_configs: Any = None, **kwargs: Any) -> list[CheckMessage]:
    """tallylog.E004, E010–E024: each bad value of a setting, under its setting's ID
    (``tallylog.config.problems``; TALLYLOG_RATE_LIMITS is tallylog.safety's check)."""
    return [
        Error(p.message, hint="docs/configuration.md lists every setting.", id=p.check)
        for p in config.problems()
        if p.check.startswith("tallylog.E")
    ]


def check_home_private(app_configs: Any = None, **kwargs: Any) -> list[CheckMessage]:
    """tallylog.E005/W002: the home and its database and keys are private to this user."""
    home = Home(config.build()[0].home)
    database = settings.DATABASES["default"]
    extra: tuple[Path, ...] = ()
    if database["ENGINE"].endswith("sqlite3") and str(database["NAME"])[:1] == "/":
        extra = (Path(database["NAME"]),)
    readable, open_home = home.exposure(extra)
    messages: list[CheckMessage] = [
        Error(
            f"{path} is readable by other users of this machine.",
            hint=f"Run `tallylog init` (home 0700, its files 0600), or chmod 600 {path}.",
            id="tallylog.E005",
        )
        for path in readable
    ]
    if open_home:
        messages.append(
            Warning(
                f"The home {home.path} is open to other users of this machine.",
                hint=f"Run `tallylog init`, or chmod 700 {home.path} (docs/deploy.md: a web server that serves log/).",
                id="tallylog.W002",
            )
        )
    return messages


def check_sequencer_settings(app_configs: Any = None, **kwargs: Any) -> list[CheckMessage]:
    """tallylog.E004: the sequencer's batch size and interval are sensible."""
    return [m for m in check_configuration() if m.id == "tallylog.E004"]


def register() -> None:
    """Register the checks (called from ``EntriesConfig.ready``)."""
    from django.core.checks import register as add

    add(check_secrets, "tallylog")
    # Deployment-time only: a home being set up (makemigrations, migrate before the key
    # exists) is not an error; ``tallylog serve`` and ``tallylog sequence`` run it.
    add(check_signing_key, "tallylog", deploy=True)
    add(check_home_private, "tallylog", deploy=True)
    add(check_configuration, "tallylog")


def run_tallylog_checks() -> list[CheckMessage]:
    """Every tallylog check, deployment ones included (for ``serve`` and ``sequence``)."""
    from django.core.checks import run_checks

    return list(run_checks(tags=["tallylog"], include_deployment_checks=True))
