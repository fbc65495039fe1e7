"""Realistic demonstration data for ``tallylog demo``: aliases, statements, regions,
organisations and channels as a three-withdrawals service sees them, over past days.

Demonstration entries stay in the signed, append-only log forever, so they go only into
a demonstration home (``tallylog.home.Home.is_demo``) or an empty one, which becomes one
(``demo_refusal``).
"""

from __future__ import annotations

import datetime
import random
from collections.abc import Callable
from dataclasses import dataclass

from django.apps import apps
from django.db import transaction

from tallylog.composition import LogServices
from tallylog.home import Home
from tallylog.registry.campaigns.models import Campaign
from tallylog.registry.declarations.actions import submit_declaration
from tallylog.registry.declarations.models import Channel, Declaration
from tallylog.registry.declarations.regions import REGIONS
from tallylog.registry.entries.models import LogDay, LogEntry, LogState
from tallylog.registry.entries.sequencer import sequence_pending

SURNAMES = "王李张刘陈杨黄赵吴周徐孙马朱胡郭何高林罗郑梁谢宋唐许韩冯邓曹彭曾肖田董袁潘于蒋蔡余杜叶程苏魏吕丁任沈姚卢姜崔钟谭陆汪范金石廖贾夏韦付方白邹孟熊秦邱江尹薛闫段雷侯龙史陶黎贺顾毛郝龚邵万钱严覃武戴莫孔向汤"
GIVEN = "伟芳娜敏静丽强磊军洋勇艳杰娟涛明超秀霞平刚桂英华玉兰萍红建文辉力鹏宇浩凯晨欣怡思涵子轩雨婷佳琪博文宏志国庆春梅海燕"
ALIAS_PATTERNS: tuple[Callable[[random.Random], str], ...] = (
    lambda r: r.choice(SURNAMES) + r.choice(GIVEN) + r.choice(GIVEN),
    lambda r: r.choice(SURNAMES) + r.choice(GIVEN),
    lambda r: r.choice(SURNAMES) + r.choice(("先生", "女士", "某", "老师", "师傅")),
    lambda r: r.choice(("觉醒", "明白人", "清醒者", "自由", "新生", "良心", "一个老党员", "退伍军人", "大学生", "海外游子"))
    + r.choice(("", "", str(r.randint(1, 999)))),
    lambda r: r.choice(REGIONS[:34]).zh_hans + r.choice(("", "的")) + r.choice(SURNAMES) + r.choice(("某", "先生", "女士")),
    lambda r: r.choice(("小", "老", "阿")) + r.choice(SURNAMES),
)
STATEMENTS = (
    "",
    "",
    "",
    "本人郑重声明退出中共及其相关组织，抹去兽印，做一个堂堂正正的中国人。",
    "小时候戴过红领巾，今天声明退出少先队。",
    "我退出共青团，不再为谎言背书。",
    "看清了真相，声明退出，愿全家平安。",
    "入党时的誓言是被迫的，今天收回。",
    "六四那年我还在上学，这些年终于想明白了。",
    "为了孩子的将来，我选择退出。",
    "退休老党员，声明退出中共。",
    "本人聲明退出中共、共青團、少先隊，所有發表過的效忠言論作廢。",
    "在海外多年，今天正式声明三退。",
    "I was made to join the Young Pioneers at school. I withdraw.",
    "全家三口一起三退。",
    "疫情封城之后，我不再相信它了。",
    "用化名声明，心里明白就好。",
)
ORG_MIXES = (
    (("party", "league", "pioneers"), 30),
    (("league", "pioneers"), 35),
    (("pioneers",), 15),
    (("party", "league"), 8),
    (("league",), 7),
    (("party",), 5),
)
CHANNELS = (
    (Channel.WEB, 52),
    (Channel.PHONE, 30),
    (Channel.EMAIL, 5),
    (Channel.IN_PERSON, 4),
    (Channel.LETTER, 3),
    (Channel.FAX, 1),
    (Channel.API, 5),
)


def _weighted(rng: random.Random, pairs: tuple[tuple[object, int], ...]) -> object:
    return rng.choices([p[0] for p in pairs], weights=[p[1] for p in pairs])[0]


def demo_declaration(rng: random.Random) -> dict[str, object]:
    """One realistic declaration's fields (alias, orgs, statement, region, channel)."""
    region = "" if rng.random() < 0.3 else rng.choice(REGIONS).code
    return {
        "alias": rng.choice(ALIAS_PATTERNS)(rng)[:40],
        "orgs": list(_weighted(rng, ORG_MIXES)),  # type: ignore[call-overload]
        "statement": rng.choice(STATEMENTS),
        "region": region,
        "channel": _weighted(rng, CHANNELS),
    }


def real_data(home: Home) -> dict[str, int]:
    """What the registry of ``home`` holds that ``tallylog demo`` must not mix fake entries
    with: counts of log entries, declarations and petition signatures (only those not
    zero), the log's size when it is ahead of them. Empty for an empty or a demonstration home."""
    if home.is_demo:
        return {}
    state = LogState.objects.filter(pk=1).values_list("size", flat=True).first() or 0
    found = {
        "log entries": max(LogEntry.objects.count(), state),
        "declarations": Declaration.objects.count(),
        "petition signatures": apps.get_model("petitions", "Signature").objects.count(),
    }
    return {k: v for k, v in found.items() if v}


def demo_refusal(home: Home) -> str | None:
    """Why ``tallylog demo`` (or ``tallylog init --demo``) must not run on ``home``, or None
    when it may; a home it may run on is marked as a demonstration home first."""
    found = real_data(home)
    if not found:
        home.mark_demo()
        return None
    held = ", ".join(f"{n} {what}" for what, n in found.items())
    return (
        f"{home.path} is not a demonstration home and holds real data ({held}): demonstration "
        "entries would stay in its signed, append-only log forever. Use a new home: "
        "`tallylog init --demo --home DIR`, then `tallylog demo --home DIR`"
    )


@dataclass(frozen=True)
class DemoFill:
    """What ``fill_demo`` did: ``added`` declarations, on the leaf ``days`` (sorted);
    ``folded``: some went on the log's last day instead of an earlier one."""

    added: int
    days: tuple[datetime.date, ...]
    folded: bool


def fill_demo(
    log: LogServices,
    campaign: Campaign,
    *,
    count: int,
    days: int,
    seed: int | None = None,
    today: datetime.date | None = None,
    progress: Callable[[int], object] | None = None,
) -> DemoFill:
    """Submit ``count`` declarations spread over the last ``days`` days (more recently
    than long ago), each day's sequenced as that day; returns how many were added, on
    which days.

    Days before the last already-sequenced day are folded into it (the log's days only
    move forward): on a log that reached today, all go on today. The campaign's policy
    applies: under ``review`` they stay pending. Call ``demo_refusal`` first.
    """
    if count < 0 or days < 1:
        raise ValueError("count must be >= 0 and days >= 1")
    rng = random.Random(seed)
    today = today or datetime.datetime.now(datetime.UTC).date()
    last = LogDay.objects.order_by("-day").values_list("day", flat=True).first()
    weights = [1.0 + 2.0 * i / days + rng.random() for i in range(days)]
    per_day = [int(count * w / sum(weights)) for w in weights]
    per_day[-1] += count - sum(per_day)
    added = 0
    used: set[datetime.date] = set()
    folded = False
    for offset, n in enumerate(per_day):
        day = today - datetime.timedelta(days=days - 1 - offset)
        if last is not None and day < last:
            day = last
            folded = folded or n > 0
        if n:
            used.add(day)
        with transaction.atomic():
            for _ in range(n):
                submit_declaration(campaign, declared_on=day, **demo_declaration(rng))  # type: ignore[arg-type]
        while sequence_pending(log, batch_size=4096, day=day):
            pass
        added += n
        if progress:
            progress(n)
    return DemoFill(added, tuple(sorted(used)), folded)
