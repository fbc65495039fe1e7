"""The sequencer: submit → publish → sequence → leaves, tally, milestones, day index, and
crash injection after every step of the commit protocol followed by recovery."""

from __future__ import annotations

import contextlib
import datetime
import hashlib
import json
import subprocess
import sys
from collections import Counter
from collections.abc import Iterator
from pathlib import Path

import pytest

from tallylog import leaf
from tallylog.composition import DAY_INDEX_PATH, LogServices, build_log, reset_log_for_tests
from tallylog.home import Home
from tallylog.registry.campaigns.models import Campaign
from tallylog.registry.declarations.actions import reject, submit_declaration
from tallylog.registry.entries import sequencer
from tallylog.registry.entries.actions import enqueue_entry
from tallylog.registry.entries.lease import LeaseBusy, SequencerLease
from tallylog.registry.entries.models import LogDay, LogEntry, LogState, Milestone, TallyCount
from tallylog.registry.entries.sequencer import recover, sequence_pending
from tallylog.registry.entries.tally import sequencing_lag, tally
from tallylog.tlog import LogInconsistentError, checkpoint, note
from tallylog.tlog.errors import VerificationError


def rfc6962_root(leaves: list[bytes]) -> bytes:
    """RFC 6962 §2.1 Merkle tree hash, written out independently of tallylog.tlog."""
    if not leaves:
        return hashlib.sha256(b"").digest()
    if len(leaves) == 1:
        return hashlib.sha256(b"\x00" + leaves[0]).digest()
    k = 1
    while k * 2 < len(leaves):
        k *= 2
    return hashlib.sha256(b"\x01" + rfc6962_root(leaves[:k]) + rfc6962_root(leaves[k:])).digest()


def published_checkpoint(log: LogServices) -> checkpoint.Checkpoint:
    """The log's published checkpoint, signature verified."""
    data = log.checkpoint()
    assert data is not None
    verifier = note.Verifier(log.verifier_key)
    text = note.open_note(data, [verifier]).text
    return checkpoint.parse_checkpoint(text)


def check_log(log: LogServices) -> None:
    """Invariants after any step: the database's leaves make the committed root; the
    published checkpoint is signed, at most the committed size, and matches the leaves."""
    state = LogState.current()
    entries = list(LogEntry.objects.sequenced().order_by("log_index").values_list("log_index", "leaf"))
    assert [i for i, _ in entries] == list(range(state.size))
    leaves = [bytes(data) for _, data in entries]
    assert rfc6962_root(leaves) == bytes(state.root)
    if log.checkpoint() is not None:
        cp = published_checkpoint(log)
        assert cp.origin == log.origin
        assert cp.size <= state.size
        assert cp.root == rfc6962_root(leaves[: cp.size])


def declare(campaign: Campaign, n: int, **kwargs: object) -> list[str]:
    return [
        submit_declaration(campaign, alias=f"声明人{i}", orgs=["party", "league"] if i % 2 else ["pioneers"], **kwargs).receipt_code  # type: ignore[arg-type]
        for i in range(n)
    ]


def test_submit_publish_sequence_end_to_end(campaign: Campaign, log: LogServices) -> None:
    codes = declare(campaign, 12)
    codes += declare(campaign, 3, channel="phone")
    assert sequence_pending(log, batch_size=100) == 15
    assert sequence_pending(log, batch_size=100) == 0
    check_log(log)
    today = datetime.datetime.now(datetime.UTC).date()

    entries = list(LogEntry.objects.order_by("id"))
    assert sorted(e.log_index for e in entries) == list(range(15))  # in a random order (issue 15)
    for e, code in zip(entries, codes, strict=True):
        data = bytes(e.leaf)
        parsed = leaf.parse_leaf(data)
        assert parsed["day"] == today.isoformat() and e.day == today
        assert parsed["v"] == 2 and parsed["tag"] == leaf.receipt_tag(code, parsed["tag_salt"])
        assert data == leaf.encode_leaf(day=today.isoformat(), **e.body)
        d = e.declaration
        assert parsed["commit"] == leaf.commitment(bytes(d.salt), d.public_content())

    cp = published_checkpoint(log)
    assert cp.size == 15 and cp.root == bytes(LogState.current().root)
    assert LogState.current().checkpoint.encode() == log.checkpoint()

    t = tally(campaign)
    assert t.total == 15 and t.today == 15 and t.this_week == 15
    assert t.by_org == {"party": 7, "league": 7, "pioneers": 8}
    assert t.by_channel == {"web": 12, "phone": 3}
    assert t.by_day == [(today, 15)]
    assert [m.threshold for m in t.milestones] == [1, 10]
    for m in t.milestones:
        assert m.tree_size == 15 and m.checkpoint == LogState.current().checkpoint

    index = json.loads((log.log_dir / DAY_INDEX_PATH).read_text())
    assert index == {"days": [{"day": today.isoformat(), "start": 0, "end": 15}]}

    proof = log.inclusion_proof(3, 15, cp.root)
    from tallylog.tlog import hashes

    hashes.check_inclusion(proof, 15, cp.root, 3, hashes.leaf_hash(bytes(LogEntry.objects.get(log_index=3).leaf)))


def test_tally_equals_a_recount_of_the_leaves(campaign: Campaign, log: LogServices) -> None:
    other = Campaign.objects.create(slug="other", title_zh_hans="另一个")
    other.organisations.create(code="party", name_zh_hans="党")
    declare(campaign, 7)
    sequence_pending(log, batch_size=3, day=datetime.date(2026, 1, 1))
    submit_declaration(other, alias="甲", orgs=["party"], channel="api")
    sequence_pending(log, batch_size=3, day=datetime.date(2026, 1, 2))
    while sequence_pending(log, batch_size=3, day=datetime.date(2026, 1, 3)):
        pass
    recount: Counter[tuple[str, str, str]] = Counter()
    for data in LogEntry.objects.sequenced().values_list("leaf", flat=True):
        parsed = leaf.parse_leaf(bytes(data))
        c = parsed["campaign"]
        recount[(c, "total", "")] += 1
        recount[(c, "day", parsed["day"])] += 1
        recount[(c, "channel", parsed["channel"])] += 1
        for org in parsed.get("orgs", ()):
            recount[(c, "org", org)] += 1
    stored = Counter(
        {(t.campaign.slug, t.dimension, t.key): t.count for t in TallyCount.objects.select_related("campaign")}
    )
    assert stored == recount
    assert LogDay.objects.index() == [
        {"day": "2026-01-01", "start": 0, "end": 3},
        {"day": "2026-01-02", "start": 3, "end": 6},
        {"day": "2026-01-03", "start": 6, "end": 8},
    ]
    declare(campaign, 1)
    with pytest.raises(ValueError):
        sequence_pending(log, batch_size=3, day=datetime.date(2025, 12, 31))
    check_log(log)


def test_passes_take_the_oldest_entries_each_in_a_random_order(campaign: Campaign, log: LogServices) -> None:
    declare(campaign, 10)
    assert [sequence_pending(log, batch_size=4) for _ in range(4)] == [4, 4, 2, 0]
    ids = list(LogEntry.objects.order_by("log_index").values_list("id", flat=True))
    passes = [ids[0:4], ids[4:8], ids[8:10]]
    assert [sorted(p) for p in passes] == [sorted(ids)[0:4], sorted(ids)[4:8], sorted(ids)[8:10]]
    check_log(log)


def test_review_pending_and_rejected_never_logged(review_campaign: Campaign, log: LogServices) -> None:
    pending = submit_declaration(review_campaign, alias="待审", orgs=["party"]).declaration
    rejected = submit_declaration(review_campaign, alias="拒绝", orgs=["party"]).declaration
    reject(rejected, "spam")
    assert sequence_pending(log, batch_size=10) == 0
    assert LogState.current().size == 0
    from tallylog.registry.declarations.actions import publish

    publish(pending)
    assert sequence_pending(log, batch_size=10) == 1
    assert LogEntry.objects.sequenced().count() == 1
    assert tally(review_campaign).total == 1


def test_redact_keeps_count_and_leaf(campaign: Campaign, log: LogServices) -> None:
    from tallylog.registry.declarations.actions import redact

    s = submit_declaration(campaign, alias="撤回", orgs=["party"], statement="危险")
    sequence_pending(log, batch_size=10)
    before = bytes(LogEntry.objects.get().leaf)
    redact(s.declaration)
    assert bytes(LogEntry.objects.get().leaf) == before
    assert tally(campaign).total == 1
    check_log(log)


def test_signature_entries(campaign: Campaign, log: LogServices) -> None:
    petition = Campaign.objects.create(slug="petition", kind=Campaign.Kind.PETITION, title_zh_hans="请愿")
    enqueue_entry(petition, kind="signature", channel="web", commit="a" * 64, tag="b" * 64)
    with pytest.raises(ValueError):
        enqueue_entry(petition, kind="signature", channel="web", commit="A" * 64, tag="b" * 64)
    with pytest.raises(ValueError):
        enqueue_entry(petition, kind="vote", channel="web", commit="a" * 64, tag="b" * 64)
    assert sequence_pending(log, batch_size=10) == 1
    assert tally(petition).total == 1 and tally(petition).by_org == {}
    check_log(log)


def test_sequencing_lag(campaign: Campaign, log: LogServices) -> None:
    lag = sequencing_lag()
    assert lag.waiting == 0 and lag.oldest_waiting is None and lag.log_size == 0
    declare(campaign, 2)
    lag = sequencing_lag()
    assert lag.waiting == 2 and lag.oldest_waiting is not None
    sequence_pending(log, batch_size=10)
    lag = sequencing_lag()
    assert lag.waiting == 0 and lag.last_pass_at is not None and lag.log_size == 2


def test_milestone_thresholds_custom(campaign: Campaign, log: LogServices) -> None:
    campaign.milestones = [3, 5]
    campaign.save()
    declare(campaign, 4)
    sequence_pending(log, batch_size=2)
    sequence_pending(log, batch_size=2)
    assert list(Milestone.objects.values_list("threshold", "tree_size")) == [(3, 4)]
    declare(campaign, 1)
    sequence_pending(log, batch_size=2)
    assert list(Milestone.objects.values_list("threshold", "tree_size")) == [(3, 4), (5, 5)]
    assert all(m.checkpoint for m in Milestone.objects.all())


# -- crash injection -----------------------------------------------------------------------


class Crash(Exception):
    """An injected crash."""


class CrashingStore:
    """Wraps a real store; the ``fail_at``-th write of a tile or the checkpoint crashes,
    either before writing ("failed, nothing written") or after ("errored, but written").
    The day index's writes are not counted (``write_day_index`` is best effort and has
    its own crash test, in STEPS)."""

    def __init__(self, inner: object, fail_at: int, written: bool) -> None:
        self.inner = inner
        self.fail_at = fail_at
        self.written = written
        self.writes = 0

    def read(self, path: str) -> bytes | None:
        return self.inner.read(path)  # type: ignore[attr-defined]

    def write(self, path: str, data: bytes) -> None:
        if path == DAY_INDEX_PATH:  # best effort (logged, retried next pass): not a crash point
            self.inner.write(path, data)  # type: ignore[attr-defined]
            return
        self.writes += 1
        if self.writes == self.fail_at:
            if self.written:
                self.inner.write(path, data)  # type: ignore[attr-defined]
            raise Crash(f"injected crash at write {self.writes} ({path})")
        self.inner.write(path, data)  # type: ignore[attr-defined]

    def write_many(self, items: list[tuple[str, bytes]]) -> None:
        for path, data in items:  # one file at a time, so a crash can fall between any two
            self.write(path, data)

    def __getattr__(self, name: str) -> object:
        return getattr(self.inner, name)


def restarted(home: Home) -> LogServices:
    """A fresh LogServices, as after a process restart."""
    reset_log_for_tests()
    return build_log(home)


def count_writes(home: Home, campaign: Campaign) -> int:
    """How many store writes a 300-entry pass after a 300-entry pass makes."""
    probe = build_log(home)
    store = CrashingStore(probe.store, fail_at=0, written=False)
    probe.store = store
    declare(campaign, 300)
    sequence_pending(probe, batch_size=1000)
    return store.writes


@pytest.mark.slow  # exhaustive or property-based; in make test, not make test-fast
@pytest.mark.parametrize("written", [False, True], ids=["nothing-written", "written"])
def test_crash_at_every_store_write_then_recover(
    campaign: Campaign, home: Home, log: LogServices, written: bool
) -> None:
    declare(campaign, 300)
    sequence_pending(log, batch_size=1000)  # a log with a full tile and a partial one
    check_log(log)
    writes = count_writes(home, campaign)
    assert writes >= 3
    sizes = [published_checkpoint(log).size]
    for fail_at in range(1, writes + 1):
        declare(campaign, 300)
        crashing = restarted(home)
        crashing.store = CrashingStore(crashing.store, fail_at, written)
        with pytest.raises((Crash, sequencer.SequencerError)):
            sequence_pending(crashing, batch_size=1000)
        check_log(crashing)
        sizes.append(published_checkpoint(crashing).size)
        fresh = restarted(home)
        recover(fresh)
        check_log(fresh)
        sizes.append(published_checkpoint(fresh).size)
        while sequence_pending(fresh, batch_size=1000):
            pass
        check_log(fresh)
        sizes.append(published_checkpoint(fresh).size)
    assert sizes == sorted(sizes), "a published checkpoint went backwards"
    # Nothing lost, nothing duplicated.
    assert LogEntry.objects.awaiting_sequence().count() == 0
    total = LogEntry.objects.count()
    assert LogState.current().size == total == published_checkpoint(log).size
    assert tally(campaign).total == total
    tags = [leaf.parse_leaf(bytes(d))["tag"] for d in LogEntry.objects.values_list("leaf", flat=True)]
    assert len(set(tags)) == total


STEPS = ["_commit", "_add_tallies", "_milestones", "_publish", "write_day_index"]


@pytest.mark.parametrize("step", STEPS)
def test_crash_in_each_database_step_then_recover(
    campaign: Campaign, home: Home, log: LogServices, step: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    declare(campaign, 5)
    sequence_pending(log, batch_size=100)
    declare(campaign, 5)
    real = getattr(sequencer, step)

    def crash(*args: object, **kwargs: object) -> object:
        if step == "_publish":
            real(*args, **kwargs)  # the checkpoint goes out; recording it crashes
        raise Crash(step)

    monkeypatch.setattr(sequencer, step, crash)
    with pytest.raises(Crash):
        sequence_pending(log, batch_size=100)
    monkeypatch.setattr(sequencer, step, real)
    check_log(log)
    fresh = restarted(home)
    recover(fresh)
    check_log(fresh)
    while sequence_pending(fresh, batch_size=100):
        pass
    check_log(fresh)
    assert LogState.current().size == 10 == published_checkpoint(fresh).size
    assert tally(campaign).total == 10
    assert LogState.current().checkpoint.encode() == fresh.checkpoint()
    index = json.loads((fresh.log_dir / DAY_INDEX_PATH).read_text())
    assert index["days"][-1]["end"] == 10


def test_recover_publishes_a_committed_but_unpublished_batch(
    campaign: Campaign, home: Home, log: LogServices, monkeypatch: pytest.MonkeyPatch
) -> None:
    recover(log)  # publishes the empty log's checkpoint
    assert published_checkpoint(log).size == 0
    declare(campaign, 3)
    monkeypatch.setattr(sequencer, "_publish", lambda *a, **k: (_ for _ in ()).throw(Crash("publish")))
    with pytest.raises(Crash):
        sequence_pending(log, batch_size=100)
    monkeypatch.undo()
    assert LogState.current().size == 3 and published_checkpoint(log).size == 0
    fresh = restarted(home)
    recover(fresh)
    assert published_checkpoint(fresh).size == 3
    assert all(m.checkpoint for m in Milestone.objects.all())


def test_recover_rebuilds_lost_tiles_from_the_database(campaign: Campaign, home: Home, log: LogServices) -> None:
    import shutil

    declare(campaign, 5)
    sequence_pending(log, batch_size=100)
    backup = home.path / "log-backup"
    shutil.copytree(home.log_dir, backup)
    declare(campaign, 300)
    sequence_pending(log, batch_size=100)
    sequence_pending(log, batch_size=1000)
    # The log directory is restored from an old backup: tiles and checkpoint are behind.
    shutil.rmtree(home.log_dir)
    shutil.copytree(backup, home.log_dir)
    fresh = restarted(home)
    recover(fresh)
    check_log(fresh)
    assert published_checkpoint(fresh).size == 305


def test_recover_refuses_when_the_log_disagrees(campaign: Campaign, home: Home, log: LogServices) -> None:
    declare(campaign, 5)
    sequence_pending(log, batch_size=100)
    state = LogState.objects.get()
    state.root = hashlib.sha256(b"forged").digest()
    state.save()
    fresh = restarted(home)
    with pytest.raises(LogInconsistentError):
        recover(fresh)
    with pytest.raises(LogInconsistentError):
        sequence_pending(fresh, batch_size=10)


@contextlib.contextmanager
def holding_the_lease(home: Home) -> Iterator[None]:
    """Another process holds ``home``'s sequencer lease file (as a running sequencer does)
    until the block ends."""
    holder = subprocess.Popen(
        [
            sys.executable,
            "-c",
            "import fcntl, os, sys, time\n"
            f"fd = os.open({str(home.path / 'sequencer.lock')!r}, os.O_RDWR | os.O_CREAT)\n"
            "fcntl.flock(fd, fcntl.LOCK_EX)\n"
            "print('locked', flush=True)\n"
            "sys.stdin.read()\n",
        ],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert holder.stdout is not None and holder.stdout.readline().strip() == "locked"
        yield
    finally:
        holder.communicate("")


@pytest.mark.server
def test_one_writer_at_a_time(home: Home, log: LogServices, tmp_path: Path) -> None:
    with holding_the_lease(home), pytest.raises(LeaseBusy), SequencerLease(log.home, wait=False):
        pass
    with SequencerLease(log.home, wait=False), SequencerLease(log.home, wait=False):  # re-entrant within the process
        pass


def test_read_queries_are_constant(campaign: Campaign, log: LogServices, django_assert_num_queries) -> None:  # type: ignore[no-untyped-def]
    from tallylog.registry.declarations.models import Declaration

    def measure() -> None:
        with django_assert_num_queries(2):
            tally(campaign)
        with django_assert_num_queries(3):
            sequencing_lag()
        with django_assert_num_queries(1):
            list(Declaration.objects.newest_first()[:20])

    measure()
    declare(campaign, 50)
    sequence_pending(log, batch_size=7)
    sequence_pending(log, batch_size=100)
    measure()


def test_declaration_queries(campaign: Campaign, log: LogServices) -> None:
    from tallylog.registry.declarations.models import Declaration

    declare(campaign, 6)  # odd ones party+league, even ones pioneers
    sequence_pending(log, batch_size=4, day=datetime.date(2026, 2, 1))
    sequence_pending(log, batch_size=4, day=datetime.date(2026, 2, 2))
    newest = list(Declaration.objects.newest_first())
    assert [d.log_index for d in newest] == [5, 4, 3, 2, 1, 0]
    assert Declaration.objects.visible().with_org("pioneers").count() == 3
    assert Declaration.objects.visible().with_org("party").count() == 3
    assert Declaration.objects.visible().with_org("part").count() == 0
    assert Declaration.objects.on_day(datetime.date(2026, 2, 2)).count() == 2


@pytest.mark.django_db(transaction=True)
def test_sequencer_thread_runs_passes_until_stopped(home: Home) -> None:
    import time

    from tallylog.composition import get_log
    from tallylog.registry.campaigns.defaults import ensure_default_campaign
    from tallylog.registry.entries.sequencer import SequencerThread

    campaign = ensure_default_campaign()[0]
    log = get_log()
    # The test database is SQLite in shared-cache memory, where a reader and a writer in two
    # threads collide ("table is locked"): this thread stays off the database while the
    # sequencer runs, and watches its counter.
    declare(campaign, 5)
    thread = SequencerThread(log, batch_size=2, interval=0.05)
    thread.start()
    try:
        assert thread.ready.wait(30)
        deadline = time.monotonic() + 60
        while thread.sequenced < 5 and thread.error is None and time.monotonic() < deadline:
            time.sleep(0.05)
        assert thread.error is None and thread.sequenced == 5
        # While it runs, this process holds the sequencer lease; another would stand by.
        assert SequencerLease(log.home).held
    finally:
        thread.stop()
        thread.join(30)
    assert not thread.is_alive() and thread.error is None
    assert LogState.current().size == 5
    check_log(log)


def test_inclusion_proof_bounds(campaign: Campaign, log: LogServices) -> None:
    declare(campaign, 3)
    sequence_pending(log, batch_size=10)
    root = bytes(LogState.current().root)
    assert len(log.inclusion_proof(0, 3, root)) == 2
    for index, size in ((3, 3), (-1, 3), (0, 0)):
        with pytest.raises(ValueError):
            log.inclusion_proof(index, size, root)
    with pytest.raises(VerificationError):
        log.inclusion_proof(0, 3, bytes(32))  # tiles that do not lead to the root


def test_checkpoint_size_counts_only_this_logs_signed_checkpoints(log: LogServices) -> None:
    """The sequencer reads checkpoints with the strict tlog opener, not by their second line."""
    from tallylog.tlog import Checkpoint, Signer, generate_key, sign_checkpoint

    note = sign_checkpoint(Checkpoint(log.origin, 7, bytes(32)), log.signer)
    assert sequencer.checkpoint_size(log, note) == sequencer.checkpoint_size(log, note.decode()) == 7
    forged = sign_checkpoint(Checkpoint(log.origin, 7, bytes(32)), Signer(generate_key(log.origin)[0]))
    assert sequencer.checkpoint_size(log, forged) is None
    assert sequencer.checkpoint_size(log, "") is None and sequencer.checkpoint_size(log, None) is None
    assert sequencer.checkpoint_size(log, note.replace(b"\n7\n", b"\n07\n")) is None
