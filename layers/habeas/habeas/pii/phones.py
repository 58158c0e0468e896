"""Phone numbers: libphonenumber's metadata (the ``phonenumbers`` package) on candidate substrings.

The engine's regex proposes digit groups that look like a phone; this module decides with the
numbering plans. ``phonenumbers.parse`` costs ~50 µs, so the common cases build a ``PhoneNumber``
directly from the digits and ask ``is_valid_number`` (after a cheap match against the region's
general pattern); ``parse`` is kept for trunk prefixes it knows how to rewrite (AR "0 11 15 ...",
US "1-...", BR "0xx ...").
"""

from __future__ import annotations

import re
from functools import cache

import phonenumbers
from phonenumbers import PhoneMetadata, PhoneNumber

# Regions tried for a number written without a country code, by message language. The sender's
# region, when the caller knows it, is tried first.
LANG_REGIONS: dict[str | None, tuple[str, ...]] = {
    "pt": ("BR", "PT"),
    "es": ("MX", "AR", "CO", "CL", "ES", "PE", "US"),
    "en": ("US", "GB"),
    None: ("BR", "MX", "AR", "CO", "CL", "ES", "US", "PE", "PT", "GB"),
}

_NON_DIGIT = re.compile(r"\D")
# Subscriber numbers without an area code: "98765-4321", "4123-4567", AR mobiles "15-1234-5678", "15 744-9786".
_LOCAL_ONLY = re.compile(r"\d{4,5}[ -]\d{4}|15[ -]?\d{3,4}[ -]\d{4}")


@cache
def _region_plan(region: str) -> tuple[int, re.Pattern[str], frozenset[int]] | None:
    """Country code, general national-number pattern and possible lengths of a region (from metadata)."""
    metadata = PhoneMetadata.metadata_for_region(region)
    if metadata is None:
        return None
    general = metadata.general_desc
    return (
        metadata.country_code,
        re.compile(general.national_number_pattern),
        frozenset(general.possible_length or ()),
    )


def _valid(country_code: int, national: str) -> bool:
    if not national or national[0] == "0":
        return False
    return phonenumbers.is_valid_number(PhoneNumber(country_code=country_code, national_number=int(national)))


def international_ok(raw: str) -> bool:
    """A number written with + or 00: valid, or at least a possible length, in its country."""
    digits = _NON_DIGIT.sub("", raw)
    if raw.lstrip().startswith("00"):
        digits = digits[2:]
    for cc_len in (1, 2, 3):
        country_code = int(digits[:cc_len] or 0)
        if country_code not in phonenumbers.COUNTRY_CODE_TO_REGION_CODE:
            continue
        national = digits[cc_len:].lstrip("0")  # "+44 (0)20 ...": the trunk 0 is written but not dialled
        if country_code == 52 and len(national) == 11 and national[0] == "1":
            national = national[1:]  # Mexico's retired mobile "1" after +52, still in people's contacts
        if _valid(country_code, national):
            return True
        try:
            return phonenumbers.is_possible_number(phonenumbers.parse("+" + digits, None))
        except phonenumbers.NumberParseException:
            return False
    return False


def national_ok(raw: str, regions: tuple[str, ...]) -> bool:
    """A number written without a country code: valid in one of ``regions``."""
    digits = _NON_DIGIT.sub("", raw)
    for region in regions:
        plan = _region_plan(region)
        if plan is None:
            continue
        country_code, general, lengths = plan
        if len(digits) in lengths and general.fullmatch(digits) and _valid(country_code, digits):
            return True
        # Trunk prefixes and mobile tokens ("011 15 ...", "1-212-...", "0xx 11 ...") that only
        # phonenumbers' per-region rules rewrite correctly.
        if digits[0] in "01" or (region == "AR" and "15" in digits):
            try:
                if phonenumbers.is_valid_number(phonenumbers.parse(raw, region)):
                    return True
            except phonenumbers.NumberParseException:
                continue
    return False


def local_only(raw: str) -> bool:
    """Written like a subscriber number without area code ("98765-4321", "15-1234-5678")."""
    return _LOCAL_ONLY.fullmatch(raw) is not None


def regions_for(lang: str | None, default_region: str | None) -> tuple[str, ...]:
    """Regions to try for national numbers: the sender's region first, then the language's."""
    regions = LANG_REGIONS.get(lang, LANG_REGIONS[None])
    if default_region:
        region = default_region.upper()
        regions = (region, *(r for r in regions if r != region))
    return regions


def other_regions(regions: tuple[str, ...]) -> tuple[str, ...]:
    """The regions of every language not already in ``regions``."""
    return tuple(r for r in LANG_REGIONS[None] if r not in regions)
