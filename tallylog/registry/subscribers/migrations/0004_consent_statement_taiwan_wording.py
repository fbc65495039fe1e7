"""The first consent statement in Taiwan's words: 保存 (mainland) → 保留, 表格 → 表單, and
the site's own word for the newsletter (電子通訊). The meaning does not change.

Only a statement still worded as migration 0002 installed it is touched: an operator's
rewording, or a later version of their own, is left as it is. A statement nobody has
agreed to yet is corrected in place; one already agreed to is never reworded (each
subscriber's record says what they agreed to), so the correction becomes version 1.1,
in force from now, with the same Simplified Chinese and English.
"""

from django.db import migrations
from django.utils import timezone

OLD = "提交此表格即表示我同意接收本站的新聞通訊，並同意本站保存我的電子郵件地址、語言和同意時間，直至我退訂。"
NEW = "提交此表單即表示我同意接收本站的電子通訊，並同意本站保留我的電子郵件地址、語言和同意時間，直至我退訂。"
CORRECTED = "1.1"


def _current(ConsentStatement):
    return ConsentStatement.objects.filter(in_force_from__lte=timezone.now()).order_by("-in_force_from", "-id").first()


def reword(apps, schema_editor):
    ConsentStatement = apps.get_model("subscribers", "ConsentStatement")
    first = ConsentStatement.objects.filter(version="1", text_zh_hant=OLD).first()
    if first is None:
        return  # reworded by an operator, or not installed: theirs to keep
    if not first.subscribers.exists():
        first.text_zh_hant = NEW
        first.save(update_fields=["text_zh_hant"])
    elif _current(ConsentStatement) == first and not ConsentStatement.objects.filter(version=CORRECTED).exists():
        ConsentStatement.objects.create(
            version=CORRECTED, text_zh_hans=first.text_zh_hans, text_zh_hant=NEW, text_en=first.text_en,
            in_force_from=timezone.now(),
        )


def unword(apps, schema_editor):
    ConsentStatement = apps.get_model("subscribers", "ConsentStatement")
    ConsentStatement.objects.filter(version=CORRECTED, text_zh_hant=NEW, subscribers=None).delete()
    ConsentStatement.objects.filter(version="1", text_zh_hant=NEW, subscribers=None).update(text_zh_hant=OLD)


class Migration(migrations.Migration):
    dependencies = [("subscribers", "0003_labels_in_three_languages")]
    operations = [migrations.RunPython(reword, unword)]
