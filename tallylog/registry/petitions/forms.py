"""The signing form. It collects; ``actions.sign_petition`` validates and saves."""

from __future__ import annotations

from django import forms
from django.utils.translation import gettext_lazy as _

from tallylog.registry.petitions.countries import country_choices
from tallylog.registry.petitions.models import NAME_MAX


def _country_options() -> list[tuple[str, str]]:
    return [("", _("— choose —")), *country_choices()]


class SignatureForm(forms.Form):
    name = forms.CharField(label=_("Your name"), max_length=NAME_MAX * 2, required=False)
    show_name = forms.BooleanField(
        label=_("Show my name on the petition page"), required=False,
        help_text=_("If you leave this unticked, only the organisers see your name; the public count still includes you."),
    )
    country = forms.ChoiceField(label=_("Country or region"), choices=_country_options, required=False)
    email = forms.CharField(
        label=_("Email"), max_length=320, required=False,
        widget=forms.EmailInput(attrs={"autocomplete": "email"}),
        help_text=_("Used only to confirm your signature, then erased. It never enters the public log."),
    )

    def apply_errors(self, errors: dict[str, list[str]]) -> None:
        """Show an action's errors (field → messages) on the form."""
        for field, messages in errors.items():
            for message in messages:
                self.add_error(field if field in self.fields else None, message)
