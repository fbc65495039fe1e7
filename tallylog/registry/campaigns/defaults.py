"""The default campaign ``three-withdrawals``, created by ``tallylog init``."""

from __future__ import annotations

from django.db import transaction

from tallylog.registry.campaigns.models import Campaign, Organisation

DEFAULT_SLUG = "three-withdrawals"

THREE_WITHDRAWALS = {
    "slug": DEFAULT_SLUG,
    "kind": Campaign.Kind.DECLARATION,
    "policy": Campaign.Policy.AUTO,
    "title_zh_hans": "三退：退出中共、共青团、少先队",
    "title_zh_hant": "三退：退出中共、共青團、少先隊",
    "title_en": "Three withdrawals: leaving the Party, the Youth League and the Young Pioneers",
    "text_zh_hans": (
        "在这里公开声明退出中国共产党、共青团或少先队。可以用化名。"
        "每一份声明都记入公开、可验证的透明日志：任何人都能核对总数，"
        "您也能凭回执码确认自己的声明已被计入。"
    ),
    "text_zh_hant": (
        "在這裡公開聲明退出中國共產黨、共青團或少先隊。可以用化名。"
        "每一份聲明都記入公開、可驗證的透明日誌：任何人都能核對總數，"
        "您也能憑回執碼確認自己的聲明已被計入。"
    ),
    "text_en": (
        "Declare publicly, under an alias if you wish, that you leave the Chinese Communist "
        "Party, the Communist Youth League or the Young Pioneers. Every declaration is "
        "recorded in a public, verifiable transparency log: anyone can check the total, and "
        "your receipt code lets you confirm that yours was counted."
    ),
}

ORGANISATIONS = (
    ("party", "中国共产党", "中國共產黨", "the Chinese Communist Party"),
    ("league", "共青团", "共青團", "the Communist Youth League"),
    ("pioneers", "少先队", "少先隊", "the Young Pioneers"),
)


def ensure_default_campaign() -> tuple[Campaign, bool]:
    """Create ``three-withdrawals`` and its organisations if absent (idempotent: an
    existing campaign, perhaps edited by the operator, is left as it is). Returns
    ``(campaign, created)``."""
    with transaction.atomic():
        fields = {k: v for k, v in THREE_WITHDRAWALS.items() if k != "slug"}
        campaign, created = Campaign.objects.get_or_create(slug=DEFAULT_SLUG, defaults=fields)
        if created:
            for position, (code, hans, hant, en) in enumerate(ORGANISATIONS):
                Organisation.objects.create(
                    campaign=campaign,
                    code=code,
                    name_zh_hans=hans,
                    name_zh_hant=hant,
                    name_en=en,
                    position=position,
                )
    return campaign, created
