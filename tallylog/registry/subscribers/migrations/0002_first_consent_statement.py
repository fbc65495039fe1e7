"""The first consent statement, so the sign-up form works on a fresh install.

Operators add later versions in the admin; this one is never reworded once used.
"""

from django.db import migrations
from django.utils import timezone

TEXTS = {
    "text_zh_hans": "提交此表格即表示我同意接收本站的新闻通讯，并同意本站保存我的电子邮件地址、语言和同意时间，直至我退订。",
    "text_zh_hant": "提交此表格即表示我同意接收本站的新聞通訊，並同意本站保存我的電子郵件地址、語言和同意時間，直至我退訂。",
    "text_en": (
        "By submitting this form, I agree to receive this site's newsletter and to the site "
        "keeping my email address, my language and the time I agreed until I unsubscribe."
    ),
}


def create(apps, schema_editor):
    ConsentStatement = apps.get_model("subscribers", "ConsentStatement")
    ConsentStatement.objects.get_or_create(version="1", defaults={**TEXTS, "in_force_from": timezone.now()})


def remove(apps, schema_editor):
    apps.get_model("subscribers", "ConsentStatement").objects.filter(version="1", subscribers=None).delete()


class Migration(migrations.Migration):
    dependencies = [("subscribers", "0001_initial")]
    operations = [migrations.RunPython(create, remove)]
