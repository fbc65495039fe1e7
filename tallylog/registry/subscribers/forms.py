"""The newsletter sign-up form. It collects; ``actions.subscribe`` validates and saves."""

from __future__ import annotations

from django import forms
from django.utils.translation import gettext_lazy as _


class SignupForm(forms.Form):
    email = forms.CharField(
        label=_("Email"), max_length=320, required=False,
        widget=forms.EmailInput(attrs={"autocomplete": "email"}),
    )
    # The version of the consent statement shown; present only when the box is ticked.
    consent = forms.CharField(required=False)

    def apply_errors(self, errors: dict[str, list[str]]) -> None:
        for field, messages in errors.items():
            for message in messages:
                self.add_error(field if field in self.fields else None, message)
