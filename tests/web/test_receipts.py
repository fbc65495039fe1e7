"""Check my receipt and withdraw my content: the code in a POST body, answers never cached."""

from __future__ import annotations

import pytest
from django.test import Client

from tallylog.registry.declarations.models import Declaration
from tallylog.registry.entries.tally import tally
from tests.support.proofs import checkpoint_root, root_from_inclusion_proof


def test_a_receipt_finds_its_entry_with_a_valid_proof(declare, sequence, log) -> None:
    declare(alias="other")
    sub = declare(alias="Lin", statement="我退出")
    declare(alias="third")
    sequence()
    code = sub.receipt_code.replace("-", " ")  # typed with spaces
    response = Client(HTTP_ACCEPT_LANGUAGE="en").post("/receipt/", {"code": code})
    assert response.status_code == 200
    assert "no-store" in response["Cache-Control"]
    html = response.content.decode()
    assert "Your declaration is in the log and counted." in html
    assert "Lin" in html and "我退出" in html
    proof = response.context["proof"]
    size, root = checkpoint_root(log.checkpoint().decode())
    assert proof.index == Declaration.objects.get(pk=sub.declaration.pk).log_index  # any of 0..2: shuffled
    assert proof.checkpoint.size == size == 3
    assert root_from_inclusion_proof(proof.index, size, proof.leaf, proof.proof) == root
    for h in proof.proof_b64:
        assert h in html


def test_receipts_of_v2_and_of_v1_entries_are_found_by_their_keyed_hash(declare, sequence) -> None:
    # Issue 15 item 2: leaves carry a salted tag (v2); the server looks a code up by its
    # keyed hash, never by the tag, so entries logged as v1 before the upgrade still work.
    from tallylog import leaf
    from tallylog.registry.entries.models import LogEntry

    new = declare(alias="新")
    old = declare(alias="旧")  # made and queued as before the upgrade: unsalted tag, no salt
    d = Declaration.objects.select_related("entry").get(pk=old.declaration.pk)
    v1_tag = leaf.receipt_tag_v1(old.receipt_code)
    Declaration.objects.filter(pk=d.pk).update(tag=v1_tag, tag_salt=None)
    body = {k: v for k, v in d.entry.body.items() if k != "tag_salt"} | {"tag": v1_tag}
    LogEntry.objects.filter(pk=d.entry_id).update(body=body)
    sequence()
    for sub, version in ((new, 2), (old, 1)):
        response = Client(HTTP_ACCEPT_LANGUAGE="en").post("/receipt/", {"code": sub.receipt_code})
        assert response.status_code == 200 and response.context["found"].pk == sub.declaration.pk
        assert leaf.parse_leaf(bytes(response.context["found"].entry.leaf))["v"] == version


def test_full_width_digits_are_accepted(declare, sequence) -> None:
    sub = declare()
    sequence()
    wide = sub.receipt_code.translate({ord(c): ord(c) + 0xFEE0 for c in "0123456789"})
    response = Client().post("/receipt/", {"code": wide})
    assert response.status_code == 200 and response.context["found"].pk == sub.declaration.pk


@pytest.mark.parametrize(
    ("code", "message"),
    [
        ("12345", "A receipt code is 25 digits"),
        ("abcde-12345-12345-12345-12345", "A receipt code is 25 digits"),
        ("00000-00000-00000-00000-00000", "No declaration has this receipt code."),
        ("", "Enter the receipt code you were given when you declared."),
    ],
)
def test_bad_or_unknown_codes_get_a_clear_error(code, message, declare, log) -> None:
    response = Client(HTTP_ACCEPT_LANGUAGE="en").post("/receipt/", {"code": code})
    assert response.status_code == 400
    assert message in response.content.decode()


def test_a_pending_declaration_says_so(campaign, log, declare) -> None:
    campaign.policy = "review"
    campaign.save()
    sub = declare()
    html = Client(HTTP_ACCEPT_LANGUAGE="en").post("/receipt/", {"code": sub.receipt_code}).content.decode()
    assert "waiting for a moderator" in html


def test_private_check_is_explained(log, campaign) -> None:
    html = Client(HTTP_ACCEPT_LANGUAGE="en").get("/receipt/").content.decode()
    assert f"tallylog check-receipt CODE --source MIRROR --key {log.verifier_key}" in html
    assert "--day YYYY-MM-DD" in html


def test_withdraw_asks_to_confirm_then_removes_the_content_not_the_entry(declare, sequence, campaign) -> None:
    sub = declare(alias="Lin", statement="secret words", region="beijing")
    sequence()
    before = tally(campaign).total
    client = Client(HTTP_ACCEPT_LANGUAGE="en")
    step1 = client.post("/withdraw/", {"code": sub.receipt_code})
    assert step1.status_code == 200
    assert "secret words" in step1.content.decode() and 'name="confirm"' in step1.content.decode()
    assert Declaration.objects.get().redacted_at is None
    # Not ticking the box changes nothing.
    unticked = client.post("/withdraw/", {"code": sub.receipt_code, "step": "confirm"})
    assert unticked.status_code == 400 and "Tick the box to confirm." in unticked.content.decode()
    assert Declaration.objects.get().redacted_at is None
    done = client.post("/withdraw/", {"code": sub.receipt_code, "step": "confirm", "confirm": "on"})
    assert done.status_code == 200 and "Done." in done.content.decode()
    d = Declaration.objects.get()
    assert d.is_redacted and d.alias == "" and d.statement == ""
    assert tally(campaign).total == before
    page = client.get(f"/entries/{d.entry.log_index}/").content.decode()
    assert "Withdrawn by request" in page and "secret words" not in page and "Lin" not in page
    listing = client.get("/declarations/").content.decode()
    assert "Withdrawn by request" in listing and "secret words" not in listing


def test_withdraw_with_an_unknown_code(declare, log) -> None:
    response = Client(HTTP_ACCEPT_LANGUAGE="en").post(
        "/withdraw/", {"code": "00000-00000-00000-00000-00000", "step": "confirm", "confirm": "on"}
    )
    assert response.status_code == 400
    assert "No declaration has this receipt code." in response.content.decode()


def test_the_receipt_page_offers_the_tlog_proof_of_the_entry(declare, sequence, log) -> None:
    from tallylog.tlog import note
    from tallylog.tlog.proof import parse_proof, verify_proof

    declare(alias="other")
    sub = declare(alias="Lin")
    sequence()
    index = Declaration.objects.get(pk=sub.declaration.pk).log_index  # 0 or 1: a batch is shuffled
    page = Client(HTTP_ACCEPT_LANGUAGE="en").post("/receipt/", {"code": sub.receipt_code}).content.decode()
    link = f'href="/log-proof/{index}"'
    assert link in page and "Download the proof of your entry" in page
    assert sub.receipt_code not in page.split(link)[0][-200:]  # the link holds only the index
    response = Client().get(f"/log-proof/{index}")
    assert response.status_code == 200
    assert response["Content-Disposition"] == f'attachment; filename="entry-{index}.tlog-proof"'
    assert response["Cache-Control"] == "no-store"
    proof = parse_proof(response.content)
    ok = verify_proof(proof, note.Verifier(log.verifier_key))
    assert ok.index == index and ok.checkpoint.size == 2 and ok.entry == bytes(Declaration.objects.get(pk=sub.declaration.pk).entry.leaf)
    assert Client().get("/log-proof/2").status_code == 404  # not in the published checkpoint
    assert Client().post(f"/log-proof/{index}").status_code == 405
