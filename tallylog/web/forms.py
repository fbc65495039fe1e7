"""Forms of the public pages. They only shape input for the registry's actions, which do
the real validation (``submit_declaration`` raises ``DeclarationInvalid`` with messages
per field, copied onto the form by ``add_registry_errors``)."""

from __future__ import annotations

import datetime
from collections.abc import Iterable
from typing import TYPE_CHECKING, Any

from django import forms
from django.utils import translation
from django.utils.functional import lazy
from django.utils.text import capfirst
from django.utils.translation import gettext_lazy as _

from tallylog import leaf
from tallylog.registry.campaigns.models import Campaign
from tallylog.registry.declarations.models import ALIAS_MAX, STATEMENT_MAX
from tallylog.registry.declarations.regions import REGIONS
from tallylog.registry.petitions.countries import country_choices
from tallylog.registry.petitions.models import NAME_MAX

if TYPE_CHECKING:
    from django_stubs_ext import StrOrPromise


def filled(message: StrOrPromise, **numbers: int) -> str:
    """``message % numbers``, translated when shown (an error message set on a field is
    built once, at import, before any reader's language is known)."""
    return lazy(lambda: str(message) % numbers, str)()


# Our own message for each error a reader can cause (Django's, as "确保该变量包含不超过
# 40 字符", name neither the field nor the fix). Django fills %(limit_value)d and
# %(show_value)d into a ``max_length`` message.
TOO_LONG = {
    "alias": _("The alias is too long: at most %(limit_value)d characters (you wrote %(show_value)d)."),
    "statement": _("The statement is too long: at most %(limit_value)d characters (you wrote %(show_value)d)."),
}


class PublicForm(forms.Form):
    """Labels without Django's ":" suffix, which is wrong in Chinese ("：") and not needed."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        kwargs.setdefault("label_suffix", "")
        super().__init__(*args, **kwargs)


class DeclarationForm(PublicForm):
    alias = forms.CharField(
        label=_("Alias"),
        max_length=ALIAS_MAX,
        help_text=_("Any name you choose. It is shown publicly. It need not be your real name."),
        widget=forms.TextInput(attrs={"autocomplete": "off"}),
        error_messages={"required": _("Please enter an alias (any name you choose)."), "max_length": TOO_LONG["alias"]},
    )
    orgs = forms.MultipleChoiceField(
        label=_("I withdraw from"),
        widget=forms.CheckboxSelectMultiple,
        error_messages={
            "required": _("Choose at least one organisation."),
            "invalid_choice": _("Choose the organisations from the list."),
            "invalid_list": _("Choose the organisations from the list."),
        },
    )
    statement = forms.CharField(
        label=_("Statement (optional)"),
        required=False,
        max_length=STATEMENT_MAX,
        widget=forms.Textarea(attrs={"rows": 5}),
        error_messages={"max_length": TOO_LONG["statement"]},
    )
    region = forms.ChoiceField(
        label=_("Region (optional)"),
        required=False,
        help_text=_("A province at most, never a city. Shown publicly."),
        error_messages={"invalid_choice": _("Choose a region from the list, or none.")},
    )

    def __init__(self, campaign: Campaign, organisations: Iterable[object], *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        lang = translation.get_language()
        self.fields["orgs"].choices = [(o.code, o.localized("name", lang)) for o in organisations]  # type: ignore[attr-defined]
        self.fields["region"].choices = [("", "—")] + [(r.code, r.name(lang)) for r in REGIONS]  # type: ignore[attr-defined]
        self.fields["statement"].help_text = _(
            "Shown publicly under your alias. At most %(max)d characters."
        ) % {"max": STATEMENT_MAX}
        self.campaign = campaign


def add_registry_errors(form: forms.Form, errors: dict[str, list[str]]) -> None:
    """Put an action's errors (field → messages: ``DeclarationInvalid.errors``,
    ``SignatureInvalid.errors``, …) on the form, each at its field (else at the top)."""
    for field, messages in errors.items():
        target = field if field in form.fields else None
        for message in messages:
            form.add_error(target, message)


class ReceiptForm(PublicForm):
    """A receipt code as the declarant typed it (spaces, dashes, full-width digits allowed)."""

    code = forms.CharField(
        label=_("Receipt code"),
        max_length=80,
        widget=forms.TextInput(attrs={"autocomplete": "off", "inputmode": "numeric", "spellcheck": "false"}),
        error_messages={
            "required": _("Enter the receipt code you were given when you declared."),
            "max_length": filled(
                _("A receipt code is %(n)d digits, for example 12345-67890-12345-67890-12345."), n=leaf.RECEIPT_DIGITS
            ),
        },
    )

    def clean_code(self) -> str:
        try:
            digits = leaf.normalise_receipt_code(self.cleaned_data["code"])
        except ValueError:
            raise forms.ValidationError(
                _("A receipt code is %(n)d digits, for example 12345-67890-12345-67890-12345.")
                % {"n": leaf.RECEIPT_DIGITS}
            ) from None
        return leaf.format_receipt_code(digits)


class WithdrawForm(ReceiptForm):
    """Step two of a withdrawal: the same code, confirmed."""

    confirm = forms.BooleanField(
        label=_("Yes, remove my alias, statement and region from every public page."),
        error_messages={"required": _("Tick the box to confirm.")},
    )


class ListFilterForm(PublicForm):
    """Filters of the declarations list (GET): a UTC day and an organisation."""

    day = forms.DateField(
        label=_("Day"), required=False, widget=forms.DateInput(attrs={"type": "date"}),
        error_messages={"invalid": _("Enter a day as YYYY-MM-DD, for example 2026-12-03.")},
    )
    org = forms.ChoiceField(
        label=_("Organisation"), required=False,
        error_messages={"invalid_choice": _("Choose an organisation from the list.")},
    )
    before = forms.IntegerField(
        required=False, min_value=0, widget=forms.HiddenInput,
        error_messages={"invalid": _("This page of the list does not exist."), "min_value": _("This page of the list does not exist.")},
    )

    def __init__(self, organisations: Iterable[object], *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        lang = translation.get_language()
        self.fields["org"].choices = [("", _("All"))] + [  # type: ignore[attr-defined]  # a ChoiceField
            (o.code, capfirst(o.localized("name", lang))) for o in organisations  # type: ignore[attr-defined]
        ]

    def clean_day(self) -> datetime.date | None:
        day = self.cleaned_data.get("day")
        if day is not None and day.year < 2000:
            raise forms.ValidationError(_("Choose a day in the log's lifetime."))
        return day


# Petitions: the signing form. It collects; ``petitions.actions.sign_petition`` validates and saves.


def _country_options() -> list[tuple[str, StrOrPromise]]:
    return [("", _("— choose —")), *country_choices()]


class SignatureForm(PublicForm):
    name = forms.CharField(
        label=_("Your name"), max_length=NAME_MAX * 2, required=False,
        error_messages={"max_length": filled(_("The name is too long: at most %(max)d characters."), max=NAME_MAX)},
    )
    show_name = forms.BooleanField(
        label=_("Show my name on the petition page"), required=False,
        help_text=_("If you leave this unticked, only the organisers see your name; the public count still includes you."),
    )
    country = forms.ChoiceField(
        label=_("Country or region"), choices=_country_options, required=False,
        error_messages={"invalid_choice": _("Choose your country or region from the list.")},
    )
    email = forms.CharField(
        label=_("Email"), max_length=320, required=False,
        widget=forms.EmailInput(attrs={"autocomplete": "email"}),
        help_text=_("Used only to confirm your signature, then erased. It never enters the public log."),
        error_messages={"max_length": filled(_("This address is too long: at most %(limit)s characters."), limit=320)},
    )


# The newsletter sign-up form. It collects; ``subscribers.actions.subscribe`` validates and saves.


class SignupForm(PublicForm):
    email = forms.CharField(
        label=_("Email"), max_length=320, required=False,
        widget=forms.EmailInput(attrs={"autocomplete": "email"}),
        error_messages={"max_length": filled(_("This address is too long: at most %(limit)s characters."), limit=320)},
    )
    # The version of the consent statement shown; present only when the box is ticked.
    consent = forms.CharField(required=False)
