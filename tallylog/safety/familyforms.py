"""Several members of a family in one HTML form, without JavaScript.

The public declare form and the console's intake both show one copy of a member's form
per member. The first member's fields have their plain names (``alias``, ``orgs``, …, so
a form for one person is what it always was); the others' are prefixed ``m1-``, ``m2-``…
A hidden ``members`` field says how many rows the page showed. Two submit buttons named
``family`` edit the rows on the server and send the page back with what was typed kept:
``add`` (one more member, at most ``max_members``) and ``remove`` (the last one). A
template puts them after the form's main button, which stays the first submit button:
Enter in a field sends the form, it never adds or removes a member.

A row other than the first left entirely empty is skipped, as Django's formsets skip an
untouched extra form. ``family_forms`` builds the rows from a request; the registry's
``submit_family`` (or the console's ``record_family``) then checks every member before
saving any.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any, Generic, TypeVar

from django import forms
from django.utils.translation import gettext as _

F = TypeVar("F", bound=forms.Form)

MEMBERS = "members"  # the hidden field: how many rows the page showed
ACTION = "family"  # the name of the add and remove buttons
ADD = "add"
REMOVE = "remove"

# make(prefix, data, initial): one member's form; data None: unbound.
MakeForm = Callable[[str | None, Any, Mapping[str, Any] | None], F]


def member_prefix(position: int) -> str | None:
    """The form prefix of the ``position``-th member (0: none, the plain field names)."""
    return None if position == 0 else f"m{position}"


@dataclass
class Family(Generic[F]):
    """The rows of a family's form: ``forms`` (one per member shown), whether the page is
    being edited (``editing``: add or remove was pressed, so nothing is to be saved) and
    the family's own ``errors`` (too many members)."""

    forms: list[F]
    editing: bool = False
    errors: list[str] = field(default_factory=list)

    @property
    def count(self) -> int:
        return len(self.forms)

    def filled(self) -> list[F]:
        """The rows to save: the first, and every other that was not left empty."""
        return [form for position, form in enumerate(self.forms) if position == 0 or form.has_changed()]

    def is_valid(self) -> bool:
        """Bound, not being edited, no family error, and every filled row valid (each
        row's ``is_valid`` runs, so each shows its errors)."""
        if self.editing or self.errors or not self.forms or not self.forms[0].is_bound:
            return False
        valid = True
        for form in self.filled():
            valid = form.is_valid() and valid  # every row validated, to show its errors
        return valid

    @property
    def has_errors(self) -> bool:
        return bool(self.errors) or any(form.is_bound and form.errors for form in self.filled())


def too_many(max_members: int) -> str:
    return _("At most %(max)d members of a family declare in one form.") % {"max": max_members}


def _count(data: Mapping[str, Any]) -> int:
    try:
        return max(1, int(str(data.get(MEMBERS, "1"))))
    except ValueError:
        return 1


def typed(form: forms.Form, data: Any) -> dict[str, Any]:
    """What ``data`` holds for ``form``'s fields (under its prefix), as each widget reads it:
    the initial values of the same member's form rebuilt."""
    return {
        name: f.widget.value_from_datadict(data, {}, form.add_prefix(name))
        for name, f in form.fields.items()
        if not f.widget.is_hidden
    }


def family_forms(make: MakeForm[F], data: Any | None, *, max_members: int) -> Family[F]:
    """The member forms of a request: unbound (one empty row) without ``data``; bound, one
    per row shown, for a sending; rebuilt unbound with what was typed, one row more or
    less, when ``family`` is ``add`` or ``remove``. More than ``max_members`` rows (a
    tampered count, or ``add`` at the limit): the family's error, and ``max_members``
    rows."""
    if data is None:
        return Family([make(None, None, None)])
    shown = _count(data)
    count = min(shown, max_members)
    errors = [too_many(max_members)] if shown > max_members else []
    action = data.get(ACTION, "")
    if action not in (ADD, REMOVE):
        return Family([make(member_prefix(i), data, None) for i in range(count)], errors=errors)
    rows = [typed(make(member_prefix(i), data, None), data) for i in range(count)]
    if action == ADD:
        if count >= max_members:
            errors = [too_many(max_members)]
        else:
            rows.append({})
    elif count > 1:
        rows.pop()
    return Family([make(member_prefix(i), None, row) for i, row in enumerate(rows)], editing=True, errors=errors)


def family_again(make: MakeForm[F], data: Any, *, max_members: int) -> Family[F]:
    """The rows of ``data`` as typed, unbound (nothing validated): a form sent back to be
    sent again (a failed CSRF check)."""
    count = min(_count(data), max_members)
    rows = [typed(make(member_prefix(i), data, None), data) for i in range(count)]
    return Family([make(member_prefix(i), None, row) for i, row in enumerate(rows)])
