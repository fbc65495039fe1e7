"""Every error a reader can cause on a public form has our own message, not Django's."""

from __future__ import annotations

import pytest
from django import forms
from django.core import validators

from tallylog.web import forms as public

FORMS = [public.DeclarationForm, public.ReceiptForm, public.WithdrawForm, public.ListFilterForm,
         public.SignatureForm, public.SignupForm]


def django_defaults(field: forms.Field) -> dict[str, str]:
    messages: dict[str, str] = {}
    for cls in reversed(type(field).__mro__):
        messages.update(getattr(cls, "default_error_messages", {}))
    return messages


def reachable(field: forms.Field) -> set[str]:
    """The error codes input can trigger on ``field``."""
    codes = set()
    if field.required:
        codes.add("required")
    if any(isinstance(v, validators.MaxLengthValidator) for v in field.validators):
        codes.add("max_length")
    if any(isinstance(v, validators.MinValueValidator) for v in field.validators):
        codes.add("min_value")
    if isinstance(field, forms.ChoiceField):
        codes.add("invalid_choice")
    if isinstance(field, forms.MultipleChoiceField):
        codes.add("invalid_list")
    if isinstance(field, forms.DateField | forms.IntegerField):
        codes.add("invalid")
    return codes


@pytest.mark.parametrize("form", FORMS, ids=lambda f: f.__name__)
def test_every_reachable_error_has_our_message(form: type[forms.Form]) -> None:
    for name, field in form.base_fields.items():
        defaults = django_defaults(field)
        for code in reachable(field):
            assert code in field.error_messages, (form.__name__, name, code)
            assert field.error_messages[code] is not defaults.get(code), (form.__name__, name, code)


@pytest.mark.parametrize(
    ("lang", "code", "email"),
    [
        ("zh-hans", "回执码是 25 位数字，例如 12345-67890-12345-67890-12345。", "这个地址太长了：最多 320 个字符。"),
        ("en", "A receipt code is 25 digits, for example 12345-67890-12345-67890-12345.",
         "This address is too long: at most 320 characters."),
    ],
)
def test_messages_set_at_import_are_translated_when_shown(lang: str, code: str, email: str) -> None:
    from django.utils import translation

    with translation.override(lang):
        receipt = public.ReceiptForm({"code": "1" * 81})
        signup = public.SignupForm({"email": "a" * 330})
        assert not receipt.is_valid() and not signup.is_valid()
        assert receipt.errors["code"] == [code] and signup.errors["email"] == [email]
