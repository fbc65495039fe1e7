"""Group commit (tallylog.fastpath.groupcommit, through tallylog.registry.declarations.committer) with real threads against the
real database: every submission saved exactly once, committed before it returns, one bad
row failing alone, the per-item fallback after a failed batch."""

from __future__ import annotations

import contextlib
import threading
from collections.abc import Callable, Iterator
from typing import Any

import pytest
from django.db import DatabaseError, IntegrityError, OperationalError, connection, transaction
from django.test import override_settings

from tallylog.fastpath import GroupCommitter, groupcommit
from tallylog.registry.campaigns.models import Campaign
from tallylog.registry.declarations import actions, committer
from tallylog.registry.declarations.actions import Submission, submit_declaration
from tallylog.registry.declarations.models import Declaration
from tallylog.registry.entries.models import LogEntry

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture
def fresh_committer(monkeypatch: pytest.MonkeyPatch) -> Iterator[GroupCommitter]:
    """A new committer for this test (its counters start at zero), turned on."""
    fresh = committer.new_committer()
    monkeypatch.setattr(committer, "_committers", {"default": fresh})
    with override_settings(TALLYLOG_GROUP_COMMIT=True):
        yield fresh


def run_threads(n: int, target: Callable[[int], Any]) -> tuple[list[Any], list[BaseException | None]]:
    """Run ``target(i)`` in ``n`` threads started together; results and errors by ``i``."""
    results: list[Any] = [None] * n
    errors: list[BaseException | None] = [None] * n
    start = threading.Barrier(n)

    def run(i: int) -> None:
        try:
            start.wait()
            results[i] = target(i)
        except BaseException as exc:  # noqa: BLE001 (reported to the test)
            errors[i] = exc
        finally:
            connection.close()

    threads = [threading.Thread(target=run, args=(i,)) for i in range(n)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=120)
        assert not t.is_alive(), "a submitting thread hangs"
    return results, errors


def hold_first_batch(monkeypatch: pytest.MonkeyPatch, c: GroupCommitter, others: int) -> list[int]:
    """Make the first batch wait, inside its transaction, until ``others`` more items are
    queued, so that they are written together as the second batch. Returns the list that
    collects the keys of each batch's declarations once the batch has committed."""
    real = committer.write_rows
    committed: list[int] = []
    first = threading.Event()

    def write_rows(batch: list[Any], *, using: str = "default") -> None:
        if not first.is_set():
            first.set()
            for _ in range(2000):
                with c._lock:
                    if len(c._queue) >= others:
                        break
                threading.Event().wait(0.005)
        real(batch, using=using)
        pks = [item.declaration.pk for item in batch]
        transaction.on_commit(lambda: committed.extend(pks), using=using)

    monkeypatch.setattr(committer, "write_rows", write_rows)
    return committed


def test_concurrent_submissions_share_a_commit_and_are_saved_once(
    campaign: Campaign, fresh_committer: GroupCommitter, monkeypatch: pytest.MonkeyPatch
) -> None:
    n = 12
    committed = hold_first_batch(monkeypatch, fresh_committer, n - 1)

    def submit(i: int) -> tuple[Submission, bool, bool]:
        s = submit_declaration(campaign, alias=f"同时 {i}", orgs=["party", "league"], channel="api")
        # Returned only after the commit: in the committed list, and visible to this
        # thread's own connection (which, for all but one thread, never wrote).
        return s, s.declaration.pk in committed, Declaration.objects.filter(pk=s.declaration.pk).exists()

    results, errors = run_threads(n, submit)
    assert errors == [None] * n
    assert all(was_committed and visible for _, was_committed, visible in results)
    assert fresh_committer.batches == 2 and fresh_committer.rows == n
    submissions = [s for s, _, _ in results]
    assert len({s.receipt_code for s in submissions}) == n
    assert len({s.declaration.pk for s in submissions}) == n
    assert Declaration.objects.count() == n == LogEntry.objects.count()
    for s in submissions:
        saved = actions.find_by_receipt(s.receipt_code)
        assert saved is not None and saved.pk == s.declaration.pk
        assert saved.status == Declaration.Status.PUBLISHED
        assert saved.entry_id == s.declaration.entry_id is not None
        assert saved.entry.body["tag"] == saved.tag


def test_many_threads_many_submissions(campaign: Campaign, fresh_committer: GroupCommitter) -> None:
    threads, each = 8, 25

    def submit(i: int) -> list[Submission]:
        return [submit_declaration(campaign, alias=f"t{i}-{k}", orgs=["party"]) for k in range(each)]

    results, errors = run_threads(threads, submit)
    assert errors == [None] * threads
    codes = [s.receipt_code for batch in results for s in batch]
    assert len(set(codes)) == threads * each
    assert Declaration.objects.count() == threads * each == LogEntry.objects.count()
    assert fresh_committer.rows == threads * each
    aliases = sorted(Declaration.objects.values_list("alias", flat=True))
    assert aliases == sorted(f"t{i}-{k}" for i in range(threads) for k in range(each))


def test_a_bad_row_fails_alone_with_its_own_error(
    campaign: Campaign, fresh_committer: GroupCommitter, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Two submissions get the same receipt code (a collision the unique receipt hash
    # refuses): in one batch, only the second of them may fail.
    n = 6
    hold_first_batch(monkeypatch, fresh_committer, n - 1)
    real_code = actions.new_receipt_code
    local = threading.local()

    def new_receipt_code() -> str:
        return "11111-22222-33333-44444-55555" if getattr(local, "clash", False) else real_code()

    monkeypatch.setattr(actions, "new_receipt_code", new_receipt_code)

    def submit(i: int) -> Submission:
        local.clash = i in (2, 4)
        return submit_declaration(campaign, alias=f"n{i}", orgs=["party"])

    _, errors = run_threads(n, submit)
    failed = [i for i, e in enumerate(errors) if e is not None]
    assert len(failed) == 1 and failed[0] in (2, 4)
    assert isinstance(errors[failed[0]], IntegrityError)
    assert Declaration.objects.count() == n - 1 == LogEntry.objects.count()
    assert sorted(Declaration.objects.values_list("alias", flat=True)) == sorted(f"n{i}" for i in range(n) if i != failed[0])


def test_a_failed_batch_is_retried_item_by_item(
    campaign: Campaign, fresh_committer: GroupCommitter, monkeypatch: pytest.MonkeyPatch
) -> None:
    n = 5
    hold_first_batch(monkeypatch, fresh_committer, n - 1)
    held = committer.write_rows
    sizes: list[int] = []

    def write_rows(batch: list[Any], *, using: str = "default") -> None:
        sizes.append(len(batch))
        held(batch, using=using)
        if len(batch) > 1:  # after the inserts, inside the transaction
            raise DatabaseError("injected: the whole batch fails")

    monkeypatch.setattr(committer, "write_rows", write_rows)
    results, errors = run_threads(n, lambda i: submit_declaration(campaign, alias=f"r{i}", orgs=["party"]))
    assert errors == [None] * n
    assert sizes == [1, n - 1] + [1] * (n - 1)
    assert Declaration.objects.count() == n == LogEntry.objects.count()
    for s in results:
        assert Declaration.objects.get(pk=s.declaration.pk).entry_id == s.declaration.entry_id


def test_a_failing_database_fails_the_rest_without_waiting_again(
    campaign: Campaign, fresh_committer: GroupCommitter, monkeypatch: pytest.MonkeyPatch
) -> None:
    n = 5
    hold_first_batch(monkeypatch, fresh_committer, n - 1)
    held = committer.write_rows
    calls: list[int] = []

    def write_rows(batch: list[Any], *, using: str = "default") -> None:
        calls.append(len(batch))
        if len(batch) == 1 and len(calls) == 1:
            held(batch, using=using)  # the first leader, alone: saved
            return
        raise OperationalError("injected: database is locked")

    monkeypatch.setattr(committer, "write_rows", write_rows)
    _results, errors = run_threads(n, lambda i: submit_declaration(campaign, alias=f"o{i}", orgs=["party"]))
    assert calls == [1, n - 1, 1]  # the batch, then ONE item alone; the others not retried
    assert sum(e is None for e in errors) == 1
    assert all(isinstance(e, OperationalError) for e in errors if e is not None)
    assert Declaration.objects.count() == 1 == LogEntry.objects.count()


def test_inside_a_callers_transaction_the_row_is_part_of_it(campaign: Campaign, fresh_committer: GroupCommitter) -> None:
    with pytest.raises(RuntimeError), transaction.atomic():
        submit_declaration(campaign, alias="回滚", orgs=["party"])
        assert Declaration.objects.count() == 1
        raise RuntimeError("the caller's transaction fails")
    assert Declaration.objects.count() == 0 == LogEntry.objects.count()
    assert fresh_committer.batches == 0


def test_group_commit_can_be_turned_off(campaign: Campaign, fresh_committer: GroupCommitter) -> None:
    with override_settings(TALLYLOG_GROUP_COMMIT=False):
        s = submit_declaration(campaign, alias="直接", orgs=["party"])
    assert fresh_committer.batches == 0
    assert Declaration.objects.get(pk=s.declaration.pk).entry_id is not None
    s = submit_declaration(campaign, alias="成组", orgs=["party"])
    assert fresh_committer.batches == 1 and fresh_committer.rows == 1


def test_it_is_on_by_default() -> None:
    from django.conf import settings

    with override_settings():
        if hasattr(settings, "TALLYLOG_GROUP_COMMIT"):
            del settings.TALLYLOG_GROUP_COMMIT
        assert committer.group_commit_enabled()


def test_review_policy_rows_have_no_entry(campaign: Campaign, fresh_committer: GroupCommitter) -> None:
    campaign.policy = Campaign.Policy.REVIEW
    campaign.save()
    _, errors = run_threads(4, lambda i: submit_declaration(campaign, alias=f"p{i}", orgs=["party"]))
    assert errors == [None] * 4
    assert Declaration.objects.filter(status=Declaration.Status.PENDING, entry__isnull=True).count() == 4
    assert LogEntry.objects.count() == 0


def test_the_rows_it_writes_read_back_as_the_instances_it_returns(
    campaign: Campaign, fresh_committer: GroupCommitter
) -> None:
    # The committer writes rows as tuples of database values (no ORM insert): every column
    # must read back as what the returned instances hold, and the instances must behave as
    # saved ones (later actions update them).
    results, errors = run_threads(
        3,
        lambda i: submit_declaration(
            campaign, alias=f"读回 {i}", orgs=["pioneers", "party"], statement="说明\n第二行", region="beijing", channel="api"
        ),
    )
    assert errors == [None] * 3
    for s in results:
        d = s.declaration
        assert not d._state.adding and d._state.db == "default"
        saved = Declaration.objects.select_related("entry").get(pk=d.pk)
        for f in Declaration._meta.concrete_fields:
            got, want = getattr(saved, f.attname), getattr(d, f.attname)
            assert (bytes(got) if isinstance(got, memoryview) else got) == want, f.attname
        assert d.created_at is not None and d.published_at is not None
        assert saved.orgs == ["party", "pioneers"] and saved.status == Declaration.Status.PUBLISHED
        entry = d.entry
        assert entry is not None and not entry._state.adding
        for f in LogEntry._meta.concrete_fields:
            assert getattr(saved.entry, f.attname) == getattr(entry, f.attname), f.attname
        assert saved.entry.body == {
            "kind": "declaration", "campaign": campaign.slug, "channel": "api",
            "commit": entry.body["commit"], "tag": d.tag, "orgs": ["party", "pioneers"], "tag_salt": d.tag_salt,
        }
        assert saved.entry.log_index is None and saved.entry.published_at is not None
    actions.redact(results[0].declaration)
    assert Declaration.objects.get(pk=results[0].declaration.pk).alias == ""
    # New keys continue after the reserved ones, through the ORM too.
    later = submit_declaration(campaign, alias="之后", orgs=["party"])
    assert later.declaration.pk > max(s.declaration.pk for s in results)
    other = Declaration.objects.create(campaign=campaign, alias="ORM", orgs=["party"], receipt_hash=b"x" * 32, tag="0" * 64)
    assert other.pk > later.declaration.pk


def test_rows_queued_while_the_leader_waits_for_the_write_turn_join_its_batch(
    campaign: Campaign, fresh_committer: GroupCommitter, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Another process holds the write turn until all n submissions are queued: the leader,
    # waiting for it, must then write them all in ONE batch, not its own row alone first.
    n = 6
    real_turn = groupcommit.write_turn

    @contextlib.contextmanager
    def busy_turn(using: str = "default") -> Iterator[None]:
        for _ in range(2000):
            with fresh_committer._lock:
                if len(fresh_committer._queue) >= n:
                    break
            threading.Event().wait(0.005)
        with real_turn(using):
            yield

    monkeypatch.setattr(groupcommit, "write_turn", busy_turn)
    _, errors = run_threads(n, lambda i: submit_declaration(campaign, alias=f"等 {i}", orgs=["party"]))
    assert errors == [None] * n
    assert (fresh_committer.batches, fresh_committer.rows) == (1, n)
    assert Declaration.objects.count() == n == LogEntry.objects.count()


def test_a_write_turn_that_fails_fails_the_queue_with_its_error(
    campaign: Campaign, fresh_committer: GroupCommitter, monkeypatch: pytest.MonkeyPatch
) -> None:
    @contextlib.contextmanager
    def no_turn(using: str = "default") -> Iterator[None]:
        raise OSError("injected: no lock file")
        yield

    monkeypatch.setattr(groupcommit, "write_turn", no_turn)
    with pytest.raises(OSError, match="no lock file"):
        submit_declaration(campaign, alias="无", orgs=["party"])
    assert fresh_committer._queue == [] and not fresh_committer._leading
    monkeypatch.undo()
    with override_settings(TALLYLOG_GROUP_COMMIT=True):
        monkeypatch.setattr(committer, "_committers", {"default": fresh_committer})
        submit_declaration(campaign, alias="有", orgs=["party"])  # the committer still works
    assert list(Declaration.objects.values_list("alias", flat=True)) == ["有"]
