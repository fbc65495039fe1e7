"""The service's witnesses (``tallylog.registry.entries.cosigning``), in process: the
configuration actions, a cosigning round against our own witness server, the outcome
recorded on each witness, the cosigned checkpoint published only while it is current, and
the commands ``tallylog witness add/list/remove``."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from tallylog.cli import main
from tallylog.registry.entries import cosigning
from tallylog.registry.entries.cosigning import (
    WitnessConfigError,
    add_witness,
    cosign_current,
    remove_witness,
    witness_report,
)
from tallylog.registry.entries.models import Witness
from tallylog.tlog.cosignature import CosignatureSigner, verify_cosigned
from tallylog.tlog.witness import WitnessPool
from tests.witness.test_witness import W1_KEY, Running


@pytest.fixture(autouse=True)
def no_thread(monkeypatch: pytest.MonkeyPatch) -> None:
    """The sequencer's wake-up is left out: each test runs the round itself."""
    monkeypatch.setattr(cosigning, "after_publish", lambda ls: None)


@pytest.fixture
def witness(tmp_path: Path, log) -> Iterator[Running]:
    running = Running(tmp_path / "w.sqlite3", logs=[log.signer.verifier])
    yield running
    running.stop()


def vkey() -> str:
    return CosignatureSigner(W1_KEY).verifier_key


def test_a_round_publishes_the_cosigned_checkpoint_and_records_it(log, witness, declare, sequence) -> None:
    add_witness(vkey(), witness.witness.url)
    declare()
    sequence()
    signed = log.checkpoint()
    got = cosign_current(log)
    assert got is not None and got.published and got.cosigned == [witness.witness.name] and got.size == 1
    cosigned = log.checkpoint()
    assert cosigned.startswith(signed) and cosigned != signed
    verify_cosigned(cosigned, log.signer.verifier, [witness.witness.verifier], 1)
    row = Witness.objects.get()
    assert row.cosigned_size == 1 and row.cosigned_at is not None and row.last_error == ""
    assert cosign_current(log) is None  # cosigned already: nothing to do
    [status] = witness_report(cosigned, log.verifier_key)
    assert status.on_checkpoint and status.behind == 0
    # The next checkpoint goes from the size the witness cosigned.
    declare(alias="Second")
    sequence()
    assert witness_report(log.checkpoint(), log.verifier_key)[0].behind == 1
    assert cosign_current(log).published
    assert Witness.objects.get().cosigned_size == 2


def test_a_newer_checkpoint_is_never_replaced_by_an_older_cosigned_one(
    log, witness, declare, sequence, monkeypatch
) -> None:
    add_witness(vkey(), witness.witness.url)
    declare()
    sequence()
    real = WitnessPool.cosign

    def slow(pool, note, reader):  # the sequencer publishes while the witness is asked
        result = real(pool, note, reader)
        declare(alias="Meanwhile")
        sequence()
        return result

    monkeypatch.setattr(WitnessPool, "cosign", slow)
    got = cosign_current(log)
    assert got.cosigned and not got.published
    assert log.checkpoint().split(b"\n")[1] == b"2"
    assert b"\xe2\x80\x94 " + witness.witness.name.encode() not in log.checkpoint()


def test_a_witness_that_is_down_is_recorded_and_the_checkpoint_kept(log, declare, sequence) -> None:
    add_witness(vkey(), "http://127.0.0.1:9")
    declare()
    sequence()
    signed = log.checkpoint()
    got = cosign_current(log)
    assert not got.published and got.cosigned == []
    assert "couldn't reach" in got.failures["w1.example/w"]
    assert log.checkpoint() == signed
    row = Witness.objects.get()
    assert row.cosigned_size == 0 and row.cosigned_at is None and "couldn't reach" in row.last_error
    [status] = witness_report(signed, log.verifier_key)
    assert not status.on_checkpoint and status.behind == 1 and "couldn't reach" in status.last_error


def test_quorum_not_reached_keeps_the_signed_checkpoint(log, witness, declare, sequence, settings) -> None:
    settings.TALLYLOG_WITNESS_QUORUM = 2
    add_witness(vkey(), witness.witness.url)
    declare()
    sequence()
    signed = log.checkpoint()
    got = cosign_current(log)
    assert got.cosigned == [witness.witness.name] and not got.published
    assert log.checkpoint() == signed


def test_add_and_remove_refuse_bad_input(db, log) -> None:
    with pytest.raises(WitnessConfigError, match="bad witness verifier key"):
        add_witness("nonsense", "http://127.0.0.1:1")
    with pytest.raises(WitnessConfigError, match="http"):
        add_witness(vkey(), "ftp://example.org/")
    add_witness(vkey(), "http://127.0.0.1:1")
    with pytest.raises(WitnessConfigError, match="configured already"):
        add_witness(vkey(), "http://127.0.0.1:2")
    with pytest.raises(WitnessConfigError, match="no witness named"):
        remove_witness("nobody")
    remove_witness("w1.example/w")
    assert not Witness.objects.exists()


def test_the_commands(log, home, capsys) -> None:
    assert main(["witness", "add", vkey(), "http://127.0.0.1:1/w", "--home", str(home.path)]) == 0
    assert main(["witness", "add", vkey(), "http://127.0.0.1:1/w", "--home", str(home.path)]) == 1
    assert "configured already" in capsys.readouterr().err
    assert main(["witness", "list", "--home", str(home.path)]) == 0
    out = capsys.readouterr().out
    assert "w1.example/w\thttp://127.0.0.1:1/w\tcosigned size 0 (0 behind), last never" in out
    assert vkey() in out and "quorum 1 of 1" in out
    assert main(["witness", "remove", "nobody", "--home", str(home.path)]) == 1
    assert "no witness named 'nobody'" in capsys.readouterr().err
    assert main(["witness", "remove", "w1.example/w", "--home", str(home.path)]) == 0
    assert main(["witness", "list", "--home", str(home.path)]) == 0
    assert "no witness is configured" in capsys.readouterr().out
