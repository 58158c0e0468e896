"""Properties: no valid card or CPF embedded in chat text survives; fast check digits agree with python-stdnum."""

import re

import phonenumbers
import pytest
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st
from stdnum import iban as stdnum_iban
from stdnum import luhn as stdnum_luhn
from stdnum import numdb
from stdnum.br import cnpj as stdnum_cnpj
from stdnum.br import cpf as stdnum_cpf
from stdnum.cl import rut as stdnum_rut
from stdnum.es import dni as stdnum_dni
from stdnum.es import nie as stdnum_nie

from habeas.pii import checksums, phones, redact

pytestmark = pytest.mark.unit

# Chat-like filler: letters (with accents), spaces and punctuation, in es / pt / en.
WORDS = st.text(alphabet="abcdefghijklmnopqrstuvwxyzáéíóúãõçñ ABCXYZ.,!?¿¡:;()'\"\n", max_size=40)
SEPARATORS = st.sampled_from([" ", "\n", ": ", ", ", " (", "¡"])
ISSUER_PREFIXES = [
    ("4", 16), ("4", 13), ("4", 19), ("51", 16), ("55", 16), ("2221", 16), ("2720", 16), ("34", 15), ("37", 15),
    ("36", 14), ("6011", 16), ("65", 16), ("3528", 16), ("62", 16), ("50", 16), ("636368", 16),
]  # fmt: skip


def luhn_complete(payload: str) -> str:
    return payload + stdnum_luhn.calc_check_digit(payload)


@st.composite
def card_numbers(draw) -> str:
    prefix, length = draw(st.sampled_from(ISSUER_PREFIXES))
    body = draw(st.text(alphabet="0123456789", min_size=length - len(prefix) - 1, max_size=length - len(prefix) - 1))
    number = luhn_complete(prefix + body)
    style = draw(st.sampled_from(["bare", " ", "-"]))
    if style == "bare":
        return number
    if length in (14, 15):  # Diners 4-6-4, Amex 4-6-5
        groups = [number[:4], number[4:10], number[10:]]
    else:
        groups = [number[i : i + 4] for i in range(0, length, 4)]
    return style.join(groups)


@st.composite
def cpfs(draw) -> str:
    base = draw(st.text(alphabet="0123456789", min_size=9, max_size=9).filter(lambda b: len(set(b)) > 1))
    number = cpf_complete(base)
    return stdnum_cpf.format(number) if draw(st.booleans()) else number


def cpf_complete(base: str) -> str:
    """The CPF with ``base``'s check digits, found through python-stdnum's own validation."""
    return next(base + f"{d:02d}" for d in range(100) if stdnum_cpf.is_valid(base + f"{d:02d}"))


def cnpj_complete(base: str) -> str:
    return next(base + f"{d:02d}" for d in range(100) if stdnum_cnpj.is_valid(base + f"{d:02d}"))


def embedded(draw, value: str) -> str:
    return draw(WORDS) + draw(SEPARATORS) + value + draw(SEPARATORS) + draw(WORDS)


@settings(max_examples=300, suppress_health_check=[HealthCheck.too_slow])
@given(data=st.data(), card=card_numbers(), lang=st.sampled_from(["es", "pt", "en", None]))
def test_no_valid_card_survives_redaction(data, card, lang):
    text = embedded(data.draw, card)
    out = redact(text, lang=lang).text
    assert card not in out
    assert card.replace(" ", "").replace("-", "") not in out.replace(" ", "").replace("-", "")


@settings(max_examples=300, suppress_health_check=[HealthCheck.too_slow])
@given(data=st.data(), cpf=cpfs(), lang=st.sampled_from(["es", "pt", "en", None]))
def test_no_valid_cpf_survives_redaction(data, cpf, lang):
    text = embedded(data.draw, cpf)
    assert cpf not in redact(text, lang=lang).text


@given(st.text(alphabet="0123456789", min_size=12, max_size=19))
def test_luhn_agrees_with_stdnum(digits):
    assert checksums.luhn_ok(digits) == stdnum_luhn.is_valid(digits)


@given(st.text(alphabet="0123456789", min_size=9, max_size=9).filter(lambda b: len(set(b)) > 1))
def test_cpf_check_digits_agree_with_stdnum(base):
    valid = cpf_complete(base)
    assert checksums.cpf_ok(valid) == stdnum_cpf.is_valid(valid)
    wrong = valid[:-1] + str((int(valid[-1]) + 1) % 10)
    assert checksums.cpf_ok(wrong) == stdnum_cpf.is_valid(wrong) is False


@given(st.text(alphabet="0123456789", min_size=12, max_size=12).filter(lambda b: len(set(b)) > 1))
def test_cnpj_check_digits_agree_with_stdnum(base):
    valid = cnpj_complete(base)
    assert checksums.cnpj_ok(valid) == stdnum_cnpj.is_valid(valid)
    wrong = valid[:-1] + str((int(valid[-1]) + 1) % 10)
    assert checksums.cnpj_ok(wrong) == stdnum_cnpj.is_valid(wrong)


@given(st.integers(0, 99_999_999), st.sampled_from("TRWAGMYFPDXBNJZSQVHLCKE"))
def test_dni_letter_agrees_with_stdnum(number, letter):
    digits = f"{number:08d}"
    assert checksums.dni_es_ok(digits, letter) == stdnum_dni.is_valid(digits + letter)


@given(st.sampled_from("XYZ"), st.integers(0, 9_999_999), st.sampled_from("TRWAGMYFPDXBNJZSQVHLCKE"))
def test_nie_letter_agrees_with_stdnum(prefix, number, letter):
    digits = f"{number:07d}"
    assert checksums.nie_ok(prefix, digits, letter) == stdnum_nie.is_valid(prefix + digits + letter)


@given(st.integers(1_000_000, 99_999_999), st.sampled_from("0123456789K"))
def test_rut_check_digit_agrees_with_stdnum(body, check):
    assert checksums.rut_ok(str(body), check) == stdnum_rut.is_valid(f"{body}{check}")


@given(st.sampled_from(["ES", "DE", "GB", "PT", "FR", "BR"]), st.text(alphabet="0123456789", min_size=18, max_size=18))
def test_iban_check_agrees_with_stdnum(country, bban):
    candidate = country + "00" + bban
    check = 98 - int("".join(str(int(c, 36)) for c in bban + country + "00")) % 97
    valid = f"{country}{check:02d}{bban}"
    assert checksums.mod97_ok(valid)
    assert checksums.iban_ok(valid) == stdnum_iban.is_valid(valid)
    assert checksums.iban_ok(candidate) == stdnum_iban.is_valid(candidate)


# BBAN structures from python-stdnum's IBAN registry: "4!n4!n1!n1!n10!n" is 4 digits, 4 digits, ...
_IBAN_FORMAT = {
    country: numdb.get("iban").info(country + "00")[0][1]["bban"]
    for country in ("ES", "BE", "NO", "ME", "DE", "GB", "PT", "FR", "BR", "NL", "IT", "AD", "SC")
}
_BBAN_CHARS = {"n": "0123456789", "a": "ABCDEFGHIJKLMNOPQRSTUVWXYZ", "c": "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZ"}


@st.composite
def bbans(draw) -> tuple[str, str]:
    """A country and a BBAN of that country's format (right length and character classes)."""
    country = draw(st.sampled_from(sorted(_IBAN_FORMAT)))
    parts = [
        draw(st.text(alphabet=_BBAN_CHARS[kind], min_size=int(size), max_size=int(size)))
        for size, kind in re.findall(r"(\d+)!([nac])", _IBAN_FORMAT[country])
    ]
    return country, "".join(parts)


@settings(max_examples=400)
@given(bbans(), st.booleans())
def test_iban_check_agrees_with_stdnum_in_each_country_format(country_bban, cut):
    """Including the countries whose national check digits python-stdnum checks (ES, BE, NO, ME)."""
    country, bban = country_bban
    bban = bban[:-1] if cut else bban
    check = 98 - int("".join(str(int(c, 36)) for c in bban + country + "00")) % 97
    valid = f"{country}{check:02d}{bban}"
    assert checksums.mod97_ok(valid)
    assert checksums.iban_ok(valid) == stdnum_iban.is_valid(valid)
    assert checksums.iban_ok(country + "00" + bban) == stdnum_iban.is_valid(country + "00" + bban)


@settings(max_examples=400)
@given(
    st.sampled_from(["BR", "MX", "AR", "CO", "CL", "ES", "US"]), st.text(alphabet="0123456789", min_size=8, max_size=11)
)
def test_phone_validity_agrees_with_phonenumbers(region, digits):
    try:
        parsed = phonenumbers.parse(digits, region, keep_raw_input=True)
    except phonenumbers.NumberParseException:
        parsed = None
    # Digits that begin with the region's international dialling prefix ("00 352 2020" from Mexico)
    # are a number abroad: the engine sends anything written with 00 or + to its international check.
    assume(parsed is None or parsed.country_code_source != phonenumbers.CountryCodeSource.FROM_NUMBER_WITH_IDD)
    expected = parsed is not None and phonenumbers.is_valid_number(parsed)
    assert phones.valid_national(digits, region) == expected
