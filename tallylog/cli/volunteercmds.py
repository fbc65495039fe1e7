"""``tallylog staff …``: service centres and their staff, for operators at the command line.

Thin wrappers over ``tallylog.registry.volunteers.actions``. A password is never taken
from the command line (it would show in the process list and the shell history): it is
read from a prompt, or with ``--password-stdin`` from the first line of standard input.
"""

from __future__ import annotations

import argparse
import getpass
import sys
from typing import Any

from tallylog.cli import CLIError, setup_django

ROLES = ("volunteer", "coordinator", "moderator", "operator")


def register(sub: argparse._SubParsersAction, common: argparse.ArgumentParser) -> None:
    """Add ``tallylog staff`` and its subcommands to ``sub``."""
    staff = sub.add_parser("staff", help="manage service centres and their staff", parents=[common])
    cmds = staff.add_subparsers(dest="staff_command", metavar="ACTION", required=True)

    p = cmds.add_parser("create-centre", help="create a service centre", parents=[common])
    p.add_argument("name", help='its name, e.g. "Los Angeles"')
    p.add_argument("--slug", default="", help="short name used in addresses (default: from the name)")
    p.set_defaults(func=create_centre)

    p = cmds.add_parser("centres", help="list the service centres", parents=[common])
    p.set_defaults(func=list_centres)

    p = cmds.add_parser("add", help="add a staff member (password from a prompt or stdin)", parents=[common])
    p.add_argument("username")
    p.add_argument("--role", required=True, choices=ROLES)
    p.add_argument("--centre", metavar="SLUG", help="the centre (volunteers: required; coordinators: optional)")
    p.add_argument("--review", action="store_true", help="hold their recorded declarations for review")
    p.add_argument("--password-stdin", action="store_true", help="read the password from the first line of stdin")
    p.set_defaults(func=add)

    p = cmds.add_parser("list", help="list staff members", parents=[common])
    p.add_argument("--centre", metavar="SLUG", help="only this centre's")
    p.set_defaults(func=list_staff)

    p = cmds.add_parser("review", help="hold (or stop holding) a volunteer's declarations for review", parents=[common])
    p.add_argument("username")
    switch = p.add_mutually_exclusive_group(required=True)
    switch.add_argument("--on", dest="required", action="store_true")
    switch.add_argument("--off", dest="required", action="store_false")
    p.set_defaults(func=review)

    p = cmds.add_parser("deactivate", help="stop a staff member from logging in", parents=[common])
    p.add_argument("username")
    p.set_defaults(func=deactivate)

    p = cmds.add_parser("token", help="issue a console API token (printed once)", parents=[common])
    p.add_argument("username")
    p.add_argument("--name", default="", help="what the token is for")
    p.add_argument("--days", type=int, default=90, help="days the token is valid, 1 to 366 (default 90)")
    p.set_defaults(func=token)

    p = cmds.add_parser("tokens", help="list console API tokens (number, user, name, issued, expires, state)", parents=[common])
    p.add_argument("username", nargs="?", help="only this user's")
    p.set_defaults(func=list_tokens)

    p = cmds.add_parser("revoke-token", help="revoke a console API token at once", parents=[common])
    p.add_argument("number", type=int, help="the token's number in `staff tokens`")
    p.set_defaults(func=revoke_token)

    p = cmds.add_parser("roles", help="create or update the role groups and their permissions", parents=[common])
    p.set_defaults(func=roles)


def _run(args: argparse.Namespace, action: Any, *a: Any, **kw: Any) -> Any:
    """Call ``action`` with messages in English (as Django's own commands do), turning a
    ``ConsoleError`` into a ``CLIError``."""
    from django.utils import translation

    from tallylog.registry.volunteers.actions import ConsoleError

    try:
        with translation.override("en"):
            return action(*a, **kw)
    except ConsoleError as exc:
        details = "; ".join(
            f"{field}: {' '.join(messages)}" if field != "__all__" else " ".join(messages)
            for field, messages in exc.errors.items()
        )
        raise CLIError(details) from None


def _centre(slug: str | None) -> Any:
    from tallylog.registry.volunteers.models import Centre

    if not slug:
        return None
    centre = Centre.objects.filter(slug=slug).first()
    if centre is None:
        raise CLIError(f"no centre {slug!r} (see: tallylog staff centres)")
    return centre


def _staff(username: str) -> Any:
    from tallylog.registry.volunteers.models import Staff

    staff = Staff.objects.select_related("user", "centre").filter(user__username=username).first()
    if staff is None:
        raise CLIError(f"no staff member {username!r}")
    return staff


def _read_password(from_stdin: bool) -> str:
    if from_stdin:
        line = sys.stdin.readline()
        password = line.rstrip("\r\n")
        if not password:
            raise CLIError("no password on standard input")
        return password
    if not sys.stdin.isatty():
        raise CLIError("no terminal to ask for the password: use --password-stdin")
    first = getpass.getpass("Password: ")
    if first != getpass.getpass("Password again: "):
        raise CLIError("the two passwords differ")
    return first


def create_centre(args: argparse.Namespace) -> int:
    setup_django(args)
    from tallylog.registry.volunteers import actions

    centre = _run(args, actions.create_centre, args.name, slug=args.slug)
    print(f"created centre {centre.slug} ({centre.name})")
    return 0


def list_centres(args: argparse.Namespace) -> int:
    setup_django(args)
    from django.db.models import Count

    from tallylog.registry.volunteers.models import Centre

    for centre in Centre.objects.annotate(n=Count("staff")).order_by("slug"):
        print(f"{centre.slug}\t{centre.name}\t{centre.n} staff")
    return 0


def add(args: argparse.Namespace) -> int:
    setup_django(args)
    from tallylog.registry.volunteers import actions

    centre = _centre(args.centre)
    password = _read_password(args.password_stdin)
    staff = _run(
        args,
        actions.add_staff,
        args.username,
        role=args.role,
        centre=centre,
        password=password,
        review_required=args.review,
    )
    where = f" at {staff.centre.slug}" if staff.centre else ""
    print(f"added {staff.user.get_username()} as {staff.role}{where}")
    return 0


def list_staff(args: argparse.Namespace) -> int:
    setup_django(args)
    from tallylog.registry.volunteers.models import Staff

    members = Staff.objects.select_related("user", "centre")
    centre = _centre(args.centre)
    if centre is not None:
        members = members.at_centre(centre)
    for m in members:
        flags = ",".join(f for f, on in (("review", m.review_required), ("inactive", not m.user.is_active)) if on)
        print(f"{m.user.get_username()}\t{m.role}\t{m.centre.slug if m.centre else '-'}\t{flags or '-'}")
    return 0


def review(args: argparse.Namespace) -> int:
    setup_django(args)
    from tallylog.registry.volunteers import actions

    staff = _run(args, actions.set_review_required, _staff(args.username), args.required)
    print(f"{staff.user.get_username()}: declarations {'held for review' if staff.review_required else 'not held'}")
    return 0


def deactivate(args: argparse.Namespace) -> int:
    setup_django(args)
    from tallylog.registry.volunteers import actions

    staff = _run(args, actions.deactivate, _staff(args.username))
    print(f"{staff.user.get_username()}: deactivated; their API tokens are revoked")
    return 0


def token(args: argparse.Namespace) -> int:
    setup_django(args)
    from tallylog.registry.volunteers import actions

    staff = _staff(args.username)
    if not staff.user.is_active:
        raise CLIError(f"{args.username} is deactivated")
    issued = _run(args, actions.issue_token, staff.user, args.name, args.days)
    print(issued)
    print(f"This token is shown once; only its digest is kept. It expires in {args.days} days.", file=sys.stderr)
    return 0


def list_tokens(args: argparse.Namespace) -> int:
    setup_django(args)
    from django.utils import timezone

    from tallylog.registry.volunteers.models import ApiToken

    tokens = ApiToken.objects.select_related("user").order_by("pk")
    if args.username:
        tokens = tokens.filter(user=_staff(args.username).user)
    now = timezone.now()
    for t in tokens:
        state = "revoked" if t.revoked_at else "expired" if t.expires_at <= now else "active"
        print(f"{t.pk}\t{t.user.get_username()}\t{t.name or '-'}\t{t.created_at:%Y-%m-%d}\t{t.expires_at:%Y-%m-%d}\t{state}")
    return 0


def revoke_token(args: argparse.Namespace) -> int:
    setup_django(args)
    from tallylog.registry.volunteers import actions

    revoked = _run(args, actions.revoke_token, args.number)
    print(f"token {revoked.pk} of {revoked.user.get_username()}: revoked")
    return 0


def roles(args: argparse.Namespace) -> int:
    setup_django(args)
    from tallylog.registry.volunteers.permissions import sync_roles

    for name, group in sync_roles().items():
        print(f"{name}\t{group.permissions.count()} permissions")
    return 0
