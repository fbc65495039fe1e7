"""The service centre console: thin views over ``actions``, ``stats`` and the querysets.

Every view but login goes through ``console_view``: it sends anonymous visitors to the
login page, ends sessions that were idle too long or are too old, refuses users without
a staff record, and checks one permission. Scope (own calls, own centre, all) is the
querysets' ``visible_to``.
"""

from __future__ import annotations

import functools
import hashlib
from collections.abc import Callable
from pathlib import Path
from typing import Any

from django.contrib.auth import logout
from django.contrib.auth.forms import AuthenticationForm
from django.contrib.auth.views import LoginView
from django.core.paginator import Paginator
from django.http import Http404, HttpRequest, HttpResponse, HttpResponseRedirect
from django.shortcuts import get_object_or_404, redirect, render
from django.urls import reverse
from django.utils import timezone
from django.utils.safestring import mark_safe
from django.utils.translation import get_language
from django.utils.translation import gettext as _
from django.views.decorators.cache import cache_control, never_cache
from django.views.decorators.http import require_POST

from tallylog.console.forms import (
    CallForm,
    CentreForm,
    IntakeForm,
    MemberForm,
    StaffForm,
    ThrottledLoginForm,
    add_console_errors,
)
from tallylog.registry.campaigns.models import Organisation
from tallylog.registry.declarations.actions import (
    FAMILY_MAX,
    find_family_by_receipts,
    made_within,
    receipt_code_for_token,
)
from tallylog.registry.declarations.models import Channel, Declaration
from tallylog.registry.volunteers import actions, stats
from tallylog.registry.volunteers.models import AssistedDeclaration, Call, Centre, Outcome, Role, Staff, staff_of
from tallylog.registry.volunteers.permissions import MODERATE
from tallylog.registry.volunteers.validators import region_choices
from tallylog.safety import familyforms, formtokens
from tallylog.safety.sessions import session_is_current, start_console_session

PAGE_SIZE = 50
_STYLESHEET = Path(__file__).resolve().parent / "static" / "volunteers" / "console.css"

View = Callable[..., HttpResponse]


def forbidden(request: HttpRequest, message: str) -> HttpResponse:
    return render(request, "volunteers/forbidden.html", {"message": message}, status=403)


def console_view(permission: str | None = None) -> Callable[[View], View]:
    """Wrap a console view: login, session expiry, staff record, ``permission``."""

    def decorate(view: View) -> View:
        @functools.wraps(view)
        @never_cache
        def wrapped(request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponse:
            if not session_is_current(request):
                return HttpResponseRedirect(f"{reverse('console:login')}?next={request.path}")
            staff = staff_of(request.user)
            if staff is None:
                return forbidden(request, _("This account has no place in the service centre console."))
            if permission and not request.user.has_perm(permission):
                return forbidden(request, _("Your role does not allow this."))
            request.staff = staff  # type: ignore[attr-defined]
            return view(request, *args, **kwargs)

        return wrapped

    return decorate


class ConsoleLoginView(LoginView):
    """Django's login view with the throttled form; starts a console session that ends
    after ``TALLYLOG_CONSOLE_IDLE_SECONDS`` idle or ``TALLYLOG_CONSOLE_MAX_SECONDS`` in all (``tallylog.safety.sessions``)."""

    form_class = ThrottledLoginForm
    template_name = "volunteers/login.html"
    redirect_authenticated_user = False

    def form_valid(self, form: AuthenticationForm) -> HttpResponse:
        response = super().form_valid(form)
        start_console_session(self.request)
        return response

    def get_default_redirect_url(self) -> str:
        return reverse("console:home")


@require_POST
def logout_view(request: HttpRequest) -> HttpResponse:
    logout(request)
    return redirect("console:login")


@functools.cache
def stylesheet_bytes() -> tuple[bytes, str]:
    """The console's stylesheet and the first 12 hex digits of its SHA-256 (its URL's
    ``?v=``: a new stylesheet is fetched at once, the same one is cached for a day)."""
    data = _STYLESHEET.read_bytes()
    return data, hashlib.sha256(data).hexdigest()[:12]


@cache_control(max_age=86400, public=True)
def stylesheet(request: HttpRequest) -> HttpResponse:
    return HttpResponse(stylesheet_bytes()[0], content_type="text/css; charset=utf-8")


@console_view()
def home(request: HttpRequest) -> HttpResponse:
    return render(request, "volunteers/home.html", {"staff": request.staff})  # type: ignore[attr-defined]


# --- calls and intake ----------------------------------------------------------------


@console_view("volunteers.add_call")
def call_new(request: HttpRequest) -> HttpResponse:
    staff: Staff = request.staff  # type: ignore[attr-defined]
    if staff.centre_id is None:
        return forbidden(request, _("Only a volunteer or coordinator of a centre can record calls."))
    form = CallForm(request.POST or None, initial={"called_on": timezone.localdate(), "centre": staff.centre})
    if request.method == "POST" and form.is_valid():
        try:
            call = actions.record_call(staff, **form.cleaned_data)
        except actions.ConsoleError as exc:
            add_console_errors(form, exc)
        else:
            if call.outcome == Outcome.DECLARED:
                return redirect("console:intake", call_id=call.pk)
            return redirect(f"{reverse('console:calls')}?saved={call.pk}")
    return render(request, "volunteers/call_form.html", {"form": form}, status=422 if form.errors else 200)


def _own_call(request: HttpRequest, call_id: int) -> Call:
    staff: Staff = request.staff  # type: ignore[attr-defined]
    call = get_object_or_404(Call.objects.visible_to(staff), pk=call_id)
    return call


@console_view("volunteers.add_assisteddeclaration")
def intake(request: HttpRequest, call_id: int) -> HttpResponse:
    """Record the declarations of one or more members of a family per POST (a member more:
    ``Add a member``, the page comes back with what was typed; ``tallylog.safety.
    familyforms``), through the channel chosen (phone unless another is chosen); the
    answer shows each receipt code, large, under its member's alias, and an empty form
    for the next declaration: one round trip each.

    The form's one-time token records them once and gives their receipt codes
    (``receipt_code_for_token`` of the token and each member's position): the same form
    sent again within ``formtokens.REPLAY_SECONDS`` (a lost answer, a double Enter) shows
    the same codes again."""
    staff: Staff = request.staff  # type: ignore[attr-defined]
    call = _own_call(request, call_id)
    if call.volunteer_id != staff.user_id:
        return forbidden(request, _("You can record declarations only during your own calls."))
    campaign = actions.default_campaign()
    if campaign is None:
        return forbidden(request, _("There is no active declaration campaign."))
    language = get_language()

    def member(prefix: str | None, data: Any, initial: Any) -> MemberForm:
        return MemberForm(campaign, data, prefix=prefix, initial=initial, language=language)

    receipts: list[tuple[str, Declaration]] = []
    twice = ""
    again = False
    status = 200
    data = request.POST if request.method == "POST" else None
    form = IntakeForm(data)
    family = familyforms.family_forms(member, data, max_members=FAMILY_MAX)
    # Both validated, each showing its errors.
    if data is not None and not family.editing and form.is_valid() & family.is_valid():
        once = form.cleaned_data["once"]
        channel = form.cleaned_data["channel"]
        filled = family.filled()
        codes = [receipt_code_for_token(once, position) for position in range(len(filled))]

        def record() -> list[tuple[str, Declaration]]:
            submissions = actions.record_family(
                staff, call, [dict(f.cleaned_data) for f in filled], channel=channel, campaign=campaign, receipt_codes=codes
            )
            return [(s.receipt_code, s.declaration) for s in submissions]

        try:
            sending = formtokens.send_once(
                _ONCE_SCOPE,
                once,
                make=record,
                find=lambda: _recorded_in(call, codes) or None,
                recent=lambda found: all(made_within(d, formtokens.REPLAY_SECONDS) for _code, d in found),
                issued=_was_issued(request, once),
            )
        except actions.ConsoleError as exc:
            add_console_errors(form, exc)
            for position, errors in exc.members.items():
                add_console_errors(filled[position], actions.ConsoleError(errors))
        else:
            receipts = sending.result or []
            # Sent again (a lost answer, a double Enter): recorded once; the codes again.
            again = sending.outcome is formtokens.Outcome.AGAIN
            if sending.result is None:
                # Sent again after the window, or a token this session never had.
                twice = _("This form was already sent, and its declarations recorded once. Use this new form.")
                status = 409
        if receipts or twice:
            # A fresh form for the next declaration, through the same channel.
            form = IntakeForm(initial={"channel": channel})
            family = familyforms.family_forms(member, None, max_members=FAMILY_MAX)
    if (form.errors or family.has_errors) and status == 200:
        status = 422
    if not form.is_bound:
        form.fields["once"].initial = _issue_once(request)
    elif not form.data.get("once"):  # sent without a token: give the form one to send again
        sent = request.POST.copy()  # what the form is bound to
        sent["once"] = _issue_once(request)
        form.data = sent
    # The alias to type next has the focus: the new member's after "add", else the first.
    family.forms[-1 if family.editing else 0].focus()
    context = {
        "call": call, "form": form, "family": family, "members_max": FAMILY_MAX, "receipts": receipts,
        "held": any(d.status == Declaration.Status.PENDING for _code, d in receipts),
        "spoken": not receipts or receipts[0][1].channel in (Channel.PHONE, Channel.IN_PERSON),
        "campaign": campaign, "twice": twice, "again": again,
    }
    return render(request, "volunteers/intake.html", context, status=status)


_ONCE = "console_intake_once"
_ONCE_KEPT = 20
_ONCE_SCOPE = "console-intake"


def _issue_once(request: HttpRequest) -> str:
    """A one-time token for an intake form, remembered in the session (the last 20)."""
    token = formtokens.new_token()
    request.session[_ONCE] = [*request.session.get(_ONCE, [])[-(_ONCE_KEPT - 1) :], token]
    return token


def _was_issued(request: HttpRequest, token: str) -> bool:
    """Whether ``token`` is one of the last intake tokens this session was given (its use
    is ``formtokens.claim``'s: a token works once however many sessions send it)."""
    return token in request.session.get(_ONCE, [])


def _recorded_in(call: Call, codes: list[str]) -> list[tuple[str, Declaration]]:
    """The declarations recorded during ``call`` whose receipt codes are ``codes``, each
    with its code (a family is recorded whole or not at all)."""
    recorded = find_family_by_receipts(codes)
    mine = set(
        AssistedDeclaration.objects.filter(call=call, declaration__in=[d for _code, d in recorded]).values_list(
            "declaration_id", flat=True
        )
    )
    return [(code, d) for code, d in recorded if d.pk in mine]


@console_view("volunteers.view_call")
def calls(request: HttpRequest) -> HttpResponse:
    staff: Staff = request.staff  # type: ignore[attr-defined]
    queryset = Call.objects.visible_to(staff).select_related("centre", "volunteer")
    page = Paginator(queryset, PAGE_SIZE).get_page(request.GET.get("page"))
    context = {"page": page, "saved": request.GET.get("saved"), "regions": dict(region_choices())}
    return render(request, "volunteers/calls.html", context)


@console_view("volunteers.view_assisteddeclaration")
def recorded(request: HttpRequest) -> HttpResponse:
    """The declarations recorded through the console, with who recorded them: each
    volunteer their own, a coordinator their centre's, an operator all."""
    staff: Staff = request.staff  # type: ignore[attr-defined]
    queryset = AssistedDeclaration.objects.visible_to(staff).select_related("declaration", "volunteer", "centre")
    page = Paginator(queryset, PAGE_SIZE).get_page(request.GET.get("page"))
    return render(request, "volunteers/recorded.html", {"page": page})


# --- statistics ----------------------------------------------------------------------


def _stats_scope(request: HttpRequest) -> tuple[Centre | None, bool] | HttpResponse:
    """The centre whose statistics to show (None: all) and whether every centre is open."""
    user = request.user
    staff: Staff = request.staff  # type: ignore[attr-defined]
    if user.has_perm("volunteers.view_all_stats"):
        slug = request.GET.get("centre", "")
        if not slug:
            return None, True
        return get_object_or_404(Centre, slug=slug), True
    if user.has_perm("volunteers.view_centre_stats") and staff.centre_id:
        slug = request.GET.get("centre", "")
        if slug and slug != staff.centre.slug:  # type: ignore[union-attr]
            return forbidden(request, _("You can see the statistics of your own centre only."))
        return staff.centre, False
    return forbidden(request, _("Your role does not allow this."))


def _months(request: HttpRequest) -> int:
    try:
        return min(max(int(request.GET.get("months", "12")), 1), 120)
    except ValueError:
        return 12


@console_view()
def stats_page(request: HttpRequest) -> HttpResponse:
    scope = _stats_scope(request)
    if isinstance(scope, HttpResponse):
        return scope
    centre, all_open = scope
    outreach = stats.outreach_stats(centre, months=_months(request))
    summaries = (
        stats.centre_summaries(since=outreach.months[0].month) if all_open and centre is None else []
    )
    context = {
        "outreach": outreach,
        "chart": mark_safe(stats.outcome_chart_svg(outreach)),  # built from escaped parts
        "legend": [(o, stats.OUTCOME_COLOURS[o]) for o in Outcome],
        "outcomes": list(Outcome),
        "summaries": summaries,
        "centres": Centre.objects.all() if all_open else [],
        "months": _months(request),
    }
    return render(request, "volunteers/stats.html", context)


@console_view()
def stats_csv(request: HttpRequest) -> HttpResponse:
    scope = _stats_scope(request)
    if isinstance(scope, HttpResponse):
        return scope
    centre, _all = scope
    outreach = stats.outreach_stats(centre, months=_months(request))
    name = f"outreach-{centre.slug if centre else 'all'}-{timezone.localdate().isoformat()}.csv"
    response = HttpResponse(stats.stats_csv(outreach), content_type="text/csv; charset=utf-8")
    response["Content-Disposition"] = f'attachment; filename="{name}"'
    return response


# --- centres and staff ---------------------------------------------------------------


@console_view()
def centres(request: HttpRequest) -> HttpResponse:
    staff: Staff = request.staff  # type: ignore[attr-defined]
    may_create = staff.role == Role.OPERATOR or (staff.role == Role.COORDINATOR and staff.centre_id is None)
    if not (may_create or request.user.has_perm("volunteers.view_centre")):
        return forbidden(request, _("Your role does not allow this."))
    form = CentreForm(request.POST or None)
    if request.method == "POST":
        if not may_create:
            return forbidden(request, _("A coordinator runs one centre, and you already run one."))
        if form.is_valid():
            try:
                actions.create_centre(form.cleaned_data["name"], slug=form.cleaned_data["slug"], by=staff)
            except actions.ConsoleError as exc:
                add_console_errors(form, exc)
            else:
                return redirect("console:centres")
    if staff.role == Role.OPERATOR:
        listed = Centre.objects.all()
    else:
        listed = Centre.objects.filter(pk=staff.centre_id) if staff.centre_id is not None else Centre.objects.none()
    context = {"form": form, "may_create": may_create, "centres": listed}
    return render(request, "volunteers/centres.html", context, status=422 if form.errors else 200)


def _may_manage(request: HttpRequest) -> bool:
    return request.user.has_perm("volunteers.manage_all_staff") or request.user.has_perm(
        "volunteers.manage_centre_staff"
    )


@console_view()
def staff_list(request: HttpRequest) -> HttpResponse:
    manager: Staff = request.staff  # type: ignore[attr-defined]
    if not _may_manage(request):
        return forbidden(request, _("Your role does not allow this."))
    operator = manager.role == Role.OPERATOR
    if not operator and manager.centre_id is None:
        return forbidden(request, _("Create your centre first."))
    form = StaffForm(request.POST or None, operator=operator)
    if request.method == "POST" and form.is_valid():
        data = form.cleaned_data
        try:
            actions.add_staff(
                data["username"],
                role=data.get("role", Role.VOLUNTEER),
                centre=data.get("centre"),
                password=data["password1"],
                review_required=data["review_required"],
                by=manager,
            )
        except actions.ConsoleError as exc:
            add_console_errors(form, exc)
        else:
            return redirect("console:staff")
    members = Staff.objects.managed_by(manager).select_related("user", "centre")
    context = {"form": form, "members": members, "operator": operator}
    return render(request, "volunteers/staff.html", context, status=422 if form.errors else 200)


@console_view()
@require_POST
def staff_review(request: HttpRequest, staff_id: int) -> HttpResponse:
    manager: Staff = request.staff  # type: ignore[attr-defined]
    member = Staff.objects.managed_by(manager).filter(pk=staff_id).first()
    if member is None:
        raise Http404
    try:
        actions.set_review_required(member, request.POST.get("required") == "1", by=manager)
    except actions.NotAllowed as exc:
        return forbidden(request, exc.message)
    return redirect("console:staff")


# --- review of held declarations ----------------------------------------------------


@console_view(MODERATE)
def review(request: HttpRequest) -> HttpResponse:
    """The moderation queue: every declaration waiting for a moderator (held for review
    because of a campaign's policy, a coordinator's rule or the flood detector), oldest
    first; publish or reject it with a reason, through the registry's actions. The
    moderator sees the declaration and its channel, never who recorded it."""
    from tallylog.registry.declarations.actions import (
        DeclarationInvalid,
        InvalidTransition,
        publish,
        reject,
    )

    problem = ""
    if request.method == "POST":
        pending = get_object_or_404(Declaration.objects.pending(), pk=request.POST.get("declaration") or 0)
        try:
            if request.POST.get("decision") == "publish":
                publish(pending, moderator=request.user)
            elif request.POST.get("decision") == "reject":
                reject(pending, request.POST.get("reason", ""), moderator=request.user)
            else:
                problem = _("Choose to publish or to reject.")
        except DeclarationInvalid as exc:
            problem = " ".join(m for ms in exc.errors.values() for m in ms)
        except InvalidTransition as exc:
            problem = str(exc)
        if not problem:
            return redirect("console:review")
    waiting = list(Declaration.objects.pending()[:PAGE_SIZE])
    status = 422 if problem else 200
    context = {"waiting": _labelled(waiting), "problem": problem}
    return render(request, "volunteers/review.html", context, status=status)


def _labelled(declarations: list[Declaration]) -> list[tuple[Declaration, list[str], str]]:
    """Each declaration with its organisations' names (in its campaign's order) and its
    region's name, in the reader's language: never the codes."""
    language = get_language()
    names: dict[int, dict[str, str]] = {}
    for org in Organisation.objects.filter(campaign_id__in={d.campaign_id for d in declarations}):
        names.setdefault(org.campaign_id, {})[org.code] = org.localized("name", language)
    regions = dict(region_choices())
    return [
        (
            d,
            [name for code, name in names.get(d.campaign_id, {}).items() if code in d.orgs],
            regions.get(d.region, d.region),
        )
        for d in declarations
    ]
