"""Phone numbers: libphonenumber's metadata (the ``phonenumbers`` package) on candidate substrings.

The engine's regex proposes digit groups that look like a phone; this module decides with the
numbering plans libphonenumber publishes. ``phonenumbers.parse`` + ``is_valid_number`` cost 50-100 µs
a candidate and a region, more than the rest of the engine, so the same decision is made here from
the same metadata (general pattern, per-type patterns and lengths, national-prefix rule), compiled
once per region; the unit tests check it agrees with ``is_valid_number``.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from functools import cache

import phonenumbers
from phonenumbers import PhoneMetadata

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


@dataclass(frozen=True, slots=True)
class _Plan:
    """One region's numbering plan, from phonenumbers' metadata, with its patterns compiled once."""

    country_code: int
    general: re.Pattern[str]
    lengths: frozenset[int]
    kinds: tuple[tuple[re.Pattern[str], frozenset[int]], ...]  # fixed line, mobile, toll free, ...
    national_prefix: re.Pattern[str] | None
    transform: str | None


@cache
def _plan(region: str) -> _Plan | None:
    metadata = PhoneMetadata.metadata_for_region(region)
    if metadata is None:
        return None
    kinds = []
    # Mobile first: most numbers typed in a chat are mobiles, and any one type matching will do.
    for desc in (
        metadata.mobile, metadata.fixed_line, metadata.toll_free, metadata.premium_rate, metadata.shared_cost,
        metadata.personal_number, metadata.voip, metadata.pager, metadata.uan, metadata.voicemail,
    ):  # fmt: skip
        if desc is not None and desc.national_number_pattern:
            kinds.append((re.compile(desc.national_number_pattern), frozenset(desc.possible_length or ())))
    prefix = metadata.national_prefix_for_parsing
    return _Plan(
        country_code=metadata.country_code,
        general=re.compile(metadata.general_desc.national_number_pattern),
        lengths=frozenset(metadata.general_desc.possible_length or ()),
        kinds=tuple(kinds),
        national_prefix=re.compile(prefix) if prefix else None,
        transform=metadata.national_prefix_transform_rule or None,
    )


def _valid_in(plan: _Plan, national: str) -> bool:
    """What ``phonenumbers.is_valid_number`` decides (general pattern, then a number type), without
    building a PhoneNumber: the general and per-type patterns of the region, compiled once."""
    n = len(national)
    if n not in plan.lengths or plan.general.fullmatch(national) is None:
        return False
    for kind, lengths in plan.kinds:  # noqa: SIM110 - a loop: any(<generator>) costs more here
        if (not lengths or n in lengths) and kind.fullmatch(national):
            return True
    return False


def _without_national_prefix(plan: _Plan, digits: str) -> str | None:
    """The number with its trunk prefix removed or rewritten by the region's rule ("0 11 15 ..." in AR
    becomes "9 11 ..."), as phonenumbers does when parsing; None if there is none to remove."""
    if plan.national_prefix is None:
        return None
    match = plan.national_prefix.match(digits)
    if match is None or match.end() == 0:
        return None
    groups = match.groups()
    if plan.transform and groups and groups[-1] is not None:
        return plan.national_prefix.sub(plan.transform, digits, count=1)
    return digits[match.end() :]


@dataclass(frozen=True, slots=True)
class _Country:
    """Every region's plan under one country code (NANP's +1 has 25), for a number in any of them."""

    lengths: frozenset[int]  # every length valid in one of them (a quick reject)
    plans: tuple[_Plan, ...]
    # All their general patterns in one alternation: a number none of them matches is refused with
    # one regex call instead of one per region (None when there is a single plan).
    any_general: re.Pattern[str] | None


def _any_general(plans: tuple[_Plan, ...]) -> re.Pattern[str] | None:
    if len(plans) < 2:
        return None
    return re.compile("|".join(f"(?:{plan.general.pattern})" for plan in plans))


def _valid_in_plans(plans: tuple[_Plan, ...], any_general: re.Pattern[str] | None, national: str) -> bool:
    """Valid in one of ``plans`` (``any_general`` their general patterns in one regex, or None)."""
    if any_general is not None and any_general.fullmatch(national) is None:
        return False
    for plan in plans:  # noqa: SIM110 - a loop: any(<generator>) costs more here
        if _valid_in(plan, national):
            return True
    return False


_COUNTRIES: dict[int, _Country] = {}


def _country_plans(country_code: int) -> _Country:
    try:
        return _COUNTRIES[country_code]
    except KeyError:
        pass
    lengths, plans = _country(country_code)
    found = _COUNTRIES[country_code] = _Country(lengths, plans, _any_general(plans))
    return found


@dataclass(frozen=True, slots=True)
class _Dialling:
    """A region's plan with everything ``valid_national`` needs, looked up once per region."""

    plan: _Plan
    code: str  # the country code as typed ("55")
    lengths: frozenset[int]  # every length valid in a region of that country code (a quick reject)
    others: tuple[_Plan, ...]  # the other regions' plans under its country code
    others_general: re.Pattern[str] | None  # their general patterns in one regex (None for one or none)


_DIALLING: dict[str, _Dialling | None] = {}


def _dialling(region: str) -> _Dialling | None:
    try:
        return _DIALLING[region]
    except KeyError:
        pass
    plan = _plan(region)
    found = None
    if plan is not None:
        country = _country_plans(plan.country_code)
        others = tuple(p for p in country.plans if p is not plan)
        found = _Dialling(plan, str(plan.country_code), country.lengths, others, _any_general(others))
    _DIALLING[region] = found
    return found


def _valid_in_code(dialling: _Dialling, national: str) -> bool:
    """Valid in the region or another region sharing its country code (NANP's +1, +7, +44's islands ...)."""
    if len(national) not in dialling.lengths:
        return False
    if _valid_in(dialling.plan, national):
        return True
    return bool(dialling.others) and _valid_in_plans(dialling.others, dialling.others_general, national)


def valid_national(digits: str, region: str) -> bool:
    """Digits written without a country code form a valid number of ``region``'s country code (as
    ``phonenumbers`` reads it: a US-dialled 939 number is Puerto Rico's, still valid)."""
    dialling = _dialling(region)
    if dialling is None or not digits:
        return False
    if _valid_in_code(dialling, digits):
        return True
    stripped = _without_national_prefix(dialling.plan, digits)
    if stripped and _valid_in_code(dialling, stripped):
        return True
    # Also the country code typed without its "+" ("5511987654321"), as phonenumbers reads it.
    code = dialling.code
    return digits.startswith(code) and _valid_in_code(dialling, digits[len(code) :])


def _valid_in_siblings(country_code: int, region: str, national: str) -> bool:
    """Valid in a region of the country code (NANP's +1, +7, +44's islands ...)."""
    country = _country_plans(country_code)
    return len(national) in country.lengths and _valid_in_plans(country.plans, country.any_general, national)


@cache
def _country(country_code: int) -> tuple[frozenset[int], tuple[_Plan, ...]]:
    """Every region's plan under one country code, and the union of their lengths (a quick reject)."""
    plans = tuple(
        plan for region in phonenumbers.COUNTRY_CODE_TO_REGION_CODE.get(country_code, ()) if (plan := _plan(region))
    )
    return frozenset().union(*(plan.lengths for plan in plans)), plans


def international_ok(raw: str) -> bool:
    """A number written with + or 00: valid in its country (or at least of a possible length there)."""
    digits = _NON_DIGIT.sub("", raw)
    if raw.lstrip().startswith("00"):
        digits = digits[2:]
    return international_digits_ok(digits)


def international_digits_ok(digits: str) -> bool:
    """``international_ok`` on the digits after the + or 00 (country code first)."""
    for cc_len in (1, 2, 3):
        country_code = int(digits[:cc_len] or 0)
        regions = phonenumbers.COUNTRY_CODE_TO_REGION_CODE.get(country_code)
        if not regions:
            continue
        national = digits[cc_len:]
        if national.startswith("0"):
            national = national.lstrip("0")  # "+44 (0)20 ...": the trunk 0 is written but not dialled
        if country_code == 52 and len(national) == 11 and national[0] == "1":
            national = national[1:]  # Mexico's retired mobile "1" after +52, still in people's contacts
        if _valid_in_siblings(country_code, "", national):
            return True
        try:
            return phonenumbers.is_possible_number(phonenumbers.parse("+" + digits, None))
        except phonenumbers.NumberParseException:
            return False
    return False


def national_ok(raw: str, regions: tuple[str, ...]) -> bool:
    """A number written without a country code: valid in one of ``regions``."""
    return national_digits_ok(_NON_DIGIT.sub("", raw), regions)


def national_digits_ok(digits: str, regions: tuple[str, ...]) -> bool:
    """``national_ok`` on the number's digits."""
    for region in regions:  # noqa: SIM110 - a loop: any(<generator>) costs more here
        if valid_national(digits, region):
            return True
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


def load_plans() -> None:
    """Compile every plan the engine may consult (each region's metadata loads on first use)."""
    for region in LANG_REGIONS[None]:
        _dialling(region)
