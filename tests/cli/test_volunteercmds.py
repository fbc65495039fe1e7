"""``tallylog staff …``: the operators' commands, run in-process on the test database."""

from __future__ import annotations

import io

import pytest

from tallylog.cli import main
from tallylog.registry.volunteers.actions import user_for_token
from tallylog.registry.volunteers.models import Centre, Role, Staff
from tests.support.staff import PASSWORD


def run(capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch, *argv: str, stdin: str = "") -> tuple[int, str, str]:
    monkeypatch.setattr("sys.stdin", io.StringIO(stdin))
    code = main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


def test_create_centres_and_staff(db: None, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch) -> None:
    assert run(capsys, monkeypatch, "staff", "create-centre", "Los Angeles")[:2] == (0, "created centre los-angeles (Los Angeles)\n")
    assert run(capsys, monkeypatch, "staff", "create-centre", "San Francisco", "--slug", "sf")[0] == 0
    code, out, _ = run(capsys, monkeypatch, "staff", "add", "hua", "--role", "coordinator", "--centre", "los-angeles",
                       "--password-stdin", stdin=PASSWORD + "\n")  # fmt: skip
    assert (code, out) == (0, "added hua as coordinator at los-angeles\n")
    code, out, _ = run(capsys, monkeypatch, "staff", "add", "wei", "--role", "volunteer", "--centre", "sf", "--review",
                       "--password-stdin", stdin=PASSWORD + "\n")  # fmt: skip
    assert code == 0
    assert run(capsys, monkeypatch, "staff", "add", "op", "--role", "operator", "--password-stdin", stdin=PASSWORD)[0] == 0

    wei = Staff.objects.get(user__username="wei")
    assert (wei.role, wei.centre.slug, wei.review_required) == (Role.VOLUNTEER, "sf", True)
    assert wei.user.check_password(PASSWORD) and wei.user.groups.get().name == "volunteer"
    op = Staff.objects.get(user__username="op")
    assert op.user.is_staff and op.user.has_perm("volunteers.view_all_calls")

    out = run(capsys, monkeypatch, "staff", "list")[1]
    assert out.splitlines() == ["hua\tcoordinator\tlos-angeles\t-", "op\toperator\t-\t-", "wei\tvolunteer\tsf\treview"]
    assert run(capsys, monkeypatch, "staff", "list", "--centre", "sf")[1] == "wei\tvolunteer\tsf\treview\n"
    assert "los-angeles\tLos Angeles\t1 staff" in run(capsys, monkeypatch, "staff", "centres")[1]

    assert run(capsys, monkeypatch, "staff", "review", "wei", "--off")[0] == 0
    wei.refresh_from_db()
    assert wei.review_required is False

    code, out, err = run(capsys, monkeypatch, "staff", "token", "wei", "--name", "la tool")
    assert code == 0 and user_for_token(out.strip()) == wei.user and "shown once" in err
    assert run(capsys, monkeypatch, "staff", "deactivate", "wei")[0] == 0
    assert user_for_token(out.strip()) is None
    code, _, err = run(capsys, monkeypatch, "staff", "token", "wei")
    assert code == 1 and "deactivated" in err

    out = run(capsys, monkeypatch, "staff", "roles")[1]
    assert [line.split("\t")[0] for line in out.splitlines()] == ["volunteer", "coordinator", "moderator", "operator"]


@pytest.mark.parametrize(
    ("argv", "stdin", "message"),
    [
        (["staff", "add", "x", "--role", "volunteer", "--password-stdin"], PASSWORD, "centre"),
        (["staff", "add", "x", "--role", "volunteer", "--centre", "nowhere", "--password-stdin"], PASSWORD, "no centre 'nowhere'"),
        (["staff", "add", "x", "--role", "moderator", "--password-stdin"], "", "no password on standard input"),
        (["staff", "add", "x", "--role", "moderator", "--password-stdin"], "123\n", "password: This password is too short"),
        (["staff", "add", "x", "--role", "moderator"], "", "use --password-stdin"),
        (["staff", "review", "ghost", "--on"], "", "no staff member 'ghost'"),
        (["staff", "create-centre", "   "], "", "name: This field cannot be blank."),
    ],
)  # fmt: skip
def test_errors_are_messages_with_a_nonzero_status(
    db: None, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch, argv: list[str], stdin: str, message: str
) -> None:
    code, out, err = run(capsys, monkeypatch, *argv, stdin=stdin)
    assert code == 1 and out == ""
    assert err.startswith("tallylog staff: ") and message in err
    assert not Staff.objects.exists() and not Centre.objects.exists()


def test_a_password_is_never_taken_from_the_command_line(db: None, capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exit_:
        main(["staff", "add", "x", "--role", "moderator", "--password", PASSWORD])
    assert exit_.value.code == 2
    assert "unrecognized arguments" in capsys.readouterr().err


def test_api_tokens_expire_and_are_listed_and_revoked(capsys, monkeypatch, db) -> None:  # type: ignore[no-untyped-def]
    import datetime

    from django.utils import timezone

    from tallylog.registry.volunteers.models import ApiToken

    assert run(capsys, monkeypatch, "staff", "add", "op", "--role", "operator", "--password-stdin", stdin=PASSWORD)[0] == 0
    code, first, err = run(capsys, monkeypatch, "staff", "token", "op", "--name", "script")
    assert code == 0 and "expires in 90 days" in err
    second = run(capsys, monkeypatch, "staff", "token", "op", "--days", "1")[1].strip()
    assert run(capsys, monkeypatch, "staff", "token", "op", "--days", "400")[0] == 1
    rows = [line.split("\t") for line in run(capsys, monkeypatch, "staff", "tokens", "op")[1].splitlines()]
    assert [(r[1], r[2], r[5]) for r in rows] == [("op", "script", "active"), ("op", "-", "active")]
    # Revoked: refused at once.
    assert run(capsys, monkeypatch, "staff", "revoke-token", rows[0][0])[0] == 0
    assert user_for_token(first.strip()) is None
    assert run(capsys, monkeypatch, "staff", "revoke-token", "999999")[0] == 1
    # Expired: refused, and listed as such.
    assert user_for_token(second) is not None
    ApiToken.objects.filter(pk=rows[1][0]).update(expires_at=timezone.now() - datetime.timedelta(seconds=1))
    assert user_for_token(second) is None
    states = [line.split("\t")[5] for line in run(capsys, monkeypatch, "staff", "tokens")[1].splitlines()]
    assert states == ["revoked", "expired"]
