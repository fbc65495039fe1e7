"""The fixed list of regions a declarant may name: the 34 provincial-level divisions of
China and ``overseas``.

A region is optional and public (it is part of the committed content), so the list is
deliberately coarse: a province, never a city.
"""

from __future__ import annotations

from typing import NamedTuple

from tallylog.registry.campaigns.models import lang_suffix


class Region(NamedTuple):
    code: str
    zh_hans: str
    zh_hant: str
    en: str

    def name(self, language_code: str | None) -> str:
        """The region's name in ``language_code`` (``zh-hans``, ``zh-hant``, ``en``)."""
        return getattr(self, lang_suffix(language_code))


REGIONS: tuple[Region, ...] = (
    # Municipalities.
    Region("beijing", "北京", "北京", "Beijing"),
    Region("tianjin", "天津", "天津", "Tianjin"),
    Region("shanghai", "上海", "上海", "Shanghai"),
    Region("chongqing", "重庆", "重慶", "Chongqing"),
    # Provinces.
    Region("hebei", "河北", "河北", "Hebei"),
    Region("shanxi", "山西", "山西", "Shanxi"),
    Region("liaoning", "辽宁", "遼寧", "Liaoning"),
    Region("jilin", "吉林", "吉林", "Jilin"),
    Region("heilongjiang", "黑龙江", "黑龍江", "Heilongjiang"),
    Region("jiangsu", "江苏", "江蘇", "Jiangsu"),
    Region("zhejiang", "浙江", "浙江", "Zhejiang"),
    Region("anhui", "安徽", "安徽", "Anhui"),
    Region("fujian", "福建", "福建", "Fujian"),
    Region("jiangxi", "江西", "江西", "Jiangxi"),
    Region("shandong", "山东", "山東", "Shandong"),
    Region("henan", "河南", "河南", "Henan"),
    Region("hubei", "湖北", "湖北", "Hubei"),
    Region("hunan", "湖南", "湖南", "Hunan"),
    Region("guangdong", "广东", "廣東", "Guangdong"),
    Region("hainan", "海南", "海南", "Hainan"),
    Region("sichuan", "四川", "四川", "Sichuan"),
    Region("guizhou", "贵州", "貴州", "Guizhou"),
    Region("yunnan", "云南", "雲南", "Yunnan"),
    Region("shaanxi", "陕西", "陝西", "Shaanxi"),
    Region("gansu", "甘肃", "甘肅", "Gansu"),
    Region("qinghai", "青海", "青海", "Qinghai"),
    Region("taiwan", "台湾", "臺灣", "Taiwan"),
    # Autonomous regions.
    Region("inner-mongolia", "内蒙古", "內蒙古", "Inner Mongolia"),
    Region("guangxi", "广西", "廣西", "Guangxi"),
    Region("tibet", "西藏", "西藏", "Tibet"),
    Region("ningxia", "宁夏", "寧夏", "Ningxia"),
    Region("xinjiang", "新疆", "新疆", "Xinjiang"),
    # Special administrative regions.
    Region("hong-kong", "香港", "香港", "Hong Kong"),
    Region("macau", "澳门", "澳門", "Macau"),
    # Outside China.
    Region("overseas", "海外", "海外", "Overseas"),
)

BY_CODE: dict[str, Region] = {r.code: r for r in REGIONS}
REGION_MAX = max(len(r.code) for r in REGIONS)


def is_region(code: str) -> bool:
    """Whether ``code`` names a region in ``REGIONS``."""
    return code in BY_CODE


def region_name(code: str, language_code: str | None) -> str:
    """The display name of region ``code`` (``""`` for no region or an unknown code)."""
    region = BY_CODE.get(code)
    return region.name(language_code) if region else ""


def region_choices(language_code: str | None) -> list[tuple[str, str]]:
    """``(code, name)`` pairs in list order, for a form's select box."""
    return [(r.code, r.name(language_code)) for r in REGIONS]
