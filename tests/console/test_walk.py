"""Issue 4, "Done means": a coordinator creates a centre and a volunteer; the volunteer
logs in, records a call with two declarations and reads the receipts out; the
declarations reach the log with channel ``phone``; the call appears in the centre's
statistics; nobody finds the volunteer's name on a public page or in the log."""

from __future__ import annotations

from django.test import Client

from tallylog import leaf
from tallylog.registry.campaigns.models import Campaign
from tallylog.registry.declarations.actions import find_by_receipt
from tallylog.registry.declarations.models import Declaration
from tallylog.registry.entries.models import LogEntry
from tallylog.registry.entries.sequencer import sequence_pending
from tallylog.registry.volunteers import actions
from tallylog.registry.volunteers.models import AssistedDeclaration, Call, Centre, Role, Staff
from tallylog.registry.volunteers.stats import public_channel_totals

from .conftest import PASSWORD, Team, login, once_in, receipt_in


def test_the_whole_walk(campaign: Campaign, log_home: object) -> None:
    # An operator at the command line makes a coordinator who runs no centre yet.
    coordinator = actions.add_staff("coordinator-li", role=Role.COORDINATOR, password=PASSWORD)
    boss = login(coordinator)

    # The coordinator creates a centre, and becomes its coordinator.
    response = boss.post("/console/centres/", {"name": "Los Angeles", "slug": ""})
    assert response.status_code == 302
    centre = Centre.objects.get()
    assert centre.slug == "los-angeles"
    coordinator.refresh_from_db()
    assert coordinator.centre == centre

    # ... and a volunteer of that centre.
    response = boss.post(
        "/console/staff/",
        {"username": "volunteer-zhang", "password1": PASSWORD, "password2": PASSWORD},
    )
    assert response.status_code == 302, response.content.decode()[:3000]
    volunteer = Staff.objects.get(user__username="volunteer-zhang")
    assert (volunteer.role, volunteer.centre, volunteer.review_required) == (Role.VOLUNTEER, centre, False)

    # The volunteer logs in and records a call where the caller declares.
    desk = login(volunteer)
    response = desk.post(
        "/console/calls/new/",
        {"outcome": "declared", "language": "mandarin", "region": "henan", "duration": "15-30",
         "called_on": "2026-11-20", "note": "listened for a long time, then his wife joined"},
    )  # fmt: skip
    call = Call.objects.get()
    assert response.status_code == 302 and response["Location"] == f"/console/calls/{call.pk}/intake/"
    assert (call.centre, call.volunteer, call.outcome) == (centre, volunteer.user, "declared")

    # The intake page: the alias has focus; two family members declare, one round trip each.
    page = desk.get(f"/console/calls/{call.pk}/intake/").content.decode()
    assert 'name="alias"' in page and "autofocus" in page
    receipts = []
    for alias, orgs in (("河南老张", ["party", "league"]), ("张家媳妇", ["league", "pioneers"])):
        response = desk.post(
            f"/console/calls/{call.pk}/intake/",
            {"alias": alias, "orgs": orgs, "statement": "我们全家退出", "region": "henan", "once": once_in(page)},
        )
        assert response.status_code == 200
        page = response.content.decode()  # the receipt, and a fresh form for the next one
        receipts.append(receipt_in(page))
    assert len(set(receipts)) == 2
    call.refresh_from_db()
    assert call.declarations == 2

    # Each receipt finds its declaration: channel phone, published, recorded by the volunteer.
    for code in receipts:
        declaration = find_by_receipt(code)
        assert declaration is not None
        assert declaration.channel == "phone"
        assert declaration.status == Declaration.Status.PUBLISHED
        assert AssistedDeclaration.objects.get(declaration=declaration).volunteer == volunteer.user

    # The call appears in the centre's statistics.
    stats = boss.get("/console/stats/")
    assert stats.status_code == 200
    html = stats.content.decode()
    assert "<svg" in html
    assert _stat(html, calls="1", declarations="2")
    csv_text = boss.get("/console/stats.csv").content.decode()
    assert "los-angeles,2026-11,0,0,0,0,0,1,1,2,200.0,1" in csv_text

    # Nobody finds the volunteer's name on a public page.
    public = Client()
    for url in ["/", "/declarations/", "/transparency/", *(f"/entries/{d.entry.log_index}/" for d in Declaration.objects.visible().select_related("entry"))]:
        response = public.get(url, HTTP_ACCEPT_LANGUAGE="en")
        assert response.status_code == 200, url
        assert b"volunteer-zhang" not in response.content, url
        assert b"Los Angeles" not in response.content, url


def _stat(html: str, calls: str, declarations: str) -> bool:
    compact = "".join(html.split())
    return f"<dd>{calls}</dd>" in compact and f"<dd>{declarations}</dd>" in compact


def _log_files(log_services: object) -> list:
    root = log_services.log_dir  # type: ignore[attr-defined]
    return [p for p in root.rglob("*") if p.is_file()]


def test_phone_declarations_reach_the_log_without_the_volunteer(campaign: Campaign, team: Team, log_home: object) -> None:
    """Two declarations recorded in one call are sequenced with channel ``phone``; the
    leaves and the log files name no volunteer, centre or call."""
    call = actions.record_call(team.volunteer, outcome="declared", language="cantonese", duration="5-15")
    receipts = [
        actions.record_declaration(team.volunteer, call, alias=alias, orgs=["party"]).receipt_code
        for alias in ("老陈", "陈太")
    ]
    # They reach the log with channel phone.
    assert sequence_pending(log_home, batch_size=100) == 2  # type: ignore[arg-type]
    entries = list(LogEntry.objects.sequenced().order_by("log_index"))
    assert len(entries) == 2
    found = set()
    for entry in entries:
        fields = leaf.parse_leaf(bytes(entry.leaf))
        assert fields["channel"] == "phone"
        found.add(next(code for code in receipts if leaf.receipt_matches(fields, code)))
        # Nothing about the call, the centre or the volunteer is in the leaf.
        for secret in (b"volunteer-wei", b"los-angeles", b"Los Angeles", b"hua"):
            assert secret not in bytes(entry.leaf)
    assert found == set(receipts)
    assert public_channel_totals(campaign) == {"phone": 2}
    for path in _log_files(log_home):
        assert b"volunteer-wei" not in path.read_bytes()

    # Nor do the public API's answers about them.
    public = Client()
    answers = [public.get(f"/api/v1/receipts/{code}") for code in receipts]
    answers += [public.get(f"/api/v1/entries/{d.entry.log_index}") for d in Declaration.objects.visible().select_related("entry")]
    answers += [public.get("/api/v1/campaigns/three-withdrawals/tally")]
    for answer in answers:
        assert answer.status_code == 200, answer.content[:300]
        for secret in (b"volunteer-wei", b"los-angeles", b"Los Angeles"):
            assert secret not in answer.content
