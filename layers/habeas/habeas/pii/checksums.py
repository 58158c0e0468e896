"""Check digits for the hot path, plus python-stdnum for the rest.

Luhn, mod-97, CPF, CNPJ, the DNI/NIE control letter and the RUT check digit run on every candidate
the regexes find, so they are written out here (a few integer operations each); python-stdnum's
versions cost 15-300 µs a call, which alone would eat the per-message budget. The unit tests assert
that each of these agrees with python-stdnum on generated numbers. Identifiers that are rare in chat
(CURP, RFC, CUIT, SSN) go through python-stdnum directly; an IBAN is checked against python-stdnum's
own IBAN registry (each country's BBAN format) and, where python-stdnum has one, the country's
module for its national check digits (see ``iban_ok``).
"""

from __future__ import annotations

import re
from operator import mul

from stdnum import numdb
from stdnum.ar import cuit as _stdnum_cuit
from stdnum.exceptions import ValidationError
from stdnum.mx import curp as _stdnum_curp
from stdnum.mx import rfc as _stdnum_rfc
from stdnum.us import ssn as _stdnum_ssn
from stdnum.util import get_cc_module

# Each digit doubled, and the two digits of the product added (7 -> 14 -> 5), as ASCII bytes.
_LUHN_DOUBLED = bytes.maketrans(b"0123456789", b"0246813579")
_DNI_LETTERS = "TRWAGMYFPDXBNJZSQVHLCKE"


def luhn_ok(digits: str) -> bool:
    """Luhn (mod 10) check over a string of digits."""
    try:
        ascii_digits = digits.encode("ascii")
    except UnicodeEncodeError:  # other scripts' digits: their values, one by one
        values = [int(ch) for ch in reversed(digits)]
        return (sum(values[0::2]) + sum((2 * v) % 9 if v != 9 else 9 for v in values[1::2])) % 10 == 0
    # Sum of the digits' byte values, less 48 ("0") each: the C-level sum does the adding.
    odd = sum(ascii_digits[-1::-2])
    even = sum(ascii_digits[-2::-2].translate(_LUHN_DOUBLED))
    return (odd + even - 48 * len(ascii_digits)) % 10 == 0


def card_issuer_ok(digits: str) -> bool:
    """True if the number's prefix (IIN) belongs to a card network that issues numbers of this length."""
    n = len(digits)
    if n < 12:  # no network issues shorter numbers
        return False
    p6 = int(digits[:6])
    p4, p3, p2 = p6 // 100, p6 // 1000, p6 // 10000
    if digits[0] == "4":  # Visa (and Elo/Visa-range co-brands)
        return n in (13, 16, 19)
    if 51 <= p2 <= 55 or 2221 <= p4 <= 2720:  # Mastercard
        return n == 16
    if p2 in (34, 37):  # American Express
        return n == 15
    if p2 in (36, 38, 39) or 300 <= p3 <= 305 or p4 == 3095:  # Diners Club
        return 14 <= n <= 19
    if 3528 <= p4 <= 3589 or p4 == 3841:  # JCB; Hipercard's 3841 range
        return 16 <= n <= 19
    if 2200 <= p4 <= 2204:  # Mir
        return 16 <= n <= 19
    if p4 == 6011 or 644 <= p3 <= 649 or p2 == 65 or 622126 <= p6 <= 622925:  # Discover
        return 16 <= n <= 19
    if p2 in (62, 81):  # UnionPay
        return 16 <= n <= 19
    if p2 == 50 or 56 <= p2 <= 69:  # Maestro, Elo (50xx, 636x), Hipercard (6062), Naranja and others
        return 12 <= n <= 19
    return False


# Letters as the numbers 10-35, as ISO 13616 reads them for the mod-97 check.
_MOD97_LETTERS = str.maketrans({ch: str(int(ch, 36)) for ch in "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"})


def mod97_ok(compact: str) -> bool:
    """ISO 7064 mod 97-10 over an IBAN-like string (country, check digits, BBAN), letters as 10-35."""
    if not compact.isalnum():
        return False
    try:
        return int((compact[4:] + compact[:4]).translate(_MOD97_LETTERS)) % 97 == 1
    except ValueError:  # a letter outside A-Z
        return False


_IBAN_REGISTRY = numdb.get("iban")  # python-stdnum's IBAN registry: each country's BBAN format
_BBAN_CHARS = {"n": "[0-9]", "a": "[A-Z]", "c": "[A-Za-z0-9]"}
# Per country code: (its BBAN format as a regex, python-stdnum's module for its national check
# digits or None), or None for a code that is not an IBAN country. Filled on first use.
_IBAN_COUNTRIES: dict[str, tuple[re.Pattern[str], object | None] | None] = {}


def _iban_country(country: str) -> tuple[re.Pattern[str], object | None] | None:
    try:
        return _IBAN_COUNTRIES[country]
    except KeyError:
        pass
    found = None
    if len(country) == 2 and country.isascii() and country.isalpha():
        props = _IBAN_REGISTRY.info(country)[0][1]
        if props:
            parts = re.findall(r"([1-9][0-9]*)!([nac])", props.get("bban", ""))
            bban = re.compile("".join(f"{_BBAN_CHARS[kind]}{{{size}}}" for size, kind in parts))
            found = (bban, get_cc_module(country.lower(), "iban"))
    _IBAN_COUNTRIES[country] = found
    return found


def iban_ok(compact: str) -> bool:
    """``stdnum.iban.is_valid`` on an IBAN without spaces: mod 97, a country in
    python-stdnum's IBAN registry, the BBAN in that country's format (length and character classes,
    from the registry), and the national check digits where python-stdnum has a module for them
    (Spain, Belgium, Norway, Montenegro), through that module.

    python-stdnum reads its registry and recompiles the format on every call, then its country
    module repeats the whole generic check; the same decision here costs a tenth as much (the unit
    tests check agreement with ``stdnum.iban.is_valid`` in each country's format)."""
    compact = compact.upper()
    if not mod97_ok(compact):
        return False
    country = _iban_country(compact[:2])
    if country is None:
        return False
    bban, module = country
    if bban.fullmatch(compact[4:]) is None:
        return False
    if module is None:
        return True
    try:
        module.validate(compact)  # type: ignore[attr-defined]
    except ValidationError:
        return False
    return True


_CPF_W1 = (10, 9, 8, 7, 6, 5, 4, 3, 2)
_CPF_W2 = (11, 10, 9, 8, 7, 6, 5, 4, 3, 2)


def cpf_ok(digits: str) -> bool:
    """Brazil CPF: 11 digits, two mod-11 check digits, not all the same digit."""
    if len(digits) != 11 or digits == digits[0] * 11:
        return False
    nums = [ord(c) - 48 for c in digits]
    d1 = sum(map(mul, nums, _CPF_W1)) * 10 % 11 % 10
    d2 = sum(map(mul, nums, _CPF_W2)) * 10 % 11 % 10
    return nums[9] == d1 and nums[10] == d2


_CNPJ_W1 = (5, 4, 3, 2, 9, 8, 7, 6, 5, 4, 3, 2)
_CNPJ_W2 = (6, 5, 4, 3, 2, 9, 8, 7, 6, 5, 4, 3, 2)


def cnpj_ok(digits: str) -> bool:
    """Brazil CNPJ: 14 digits, two mod-11 check digits, not all the same digit."""
    if len(digits) != 14 or digits == digits[0] * 14:
        return False
    nums = [ord(c) - 48 for c in digits]
    r1 = sum(map(mul, nums, _CNPJ_W1)) % 11
    r2 = sum(map(mul, nums, _CNPJ_W2)) % 11
    return nums[12] == (0 if r1 < 2 else 11 - r1) and nums[13] == (0 if r2 < 2 else 11 - r2)


def dni_es_ok(digits: str, letter: str) -> bool:
    """Spain DNI/NIF: 8 digits and the control letter of their value mod 23."""
    return len(digits) == 8 and _DNI_LETTERS[int(digits) % 23] == letter.upper()


def nie_ok(prefix: str, digits: str, letter: str) -> bool:
    """Spain NIE: X/Y/Z (read as 0/1/2) and 7 digits, control letter as for the DNI."""
    value = int(str("XYZ".index(prefix.upper())) + digits)
    return len(digits) == 7 and _DNI_LETTERS[value % 23] == letter.upper()


def rut_ok(body: str, check: str) -> bool:
    """Chile RUT/RUN: the mod-11 check digit (0-9 or K) of the body."""
    total, weight = 0, 2
    for ch in reversed(body):
        total += (ord(ch) - 48) * weight
        weight = 2 if weight == 7 else weight + 1
    r = 11 - total % 11
    expected = "0" if r == 11 else "K" if r == 10 else str(r)
    return check.upper() == expected


def curp_ok(value: str) -> bool:
    """Mexico CURP (format, birth date, state, check digit) via python-stdnum."""
    return _stdnum_curp.is_valid(value.upper())


def rfc_ok(value: str) -> bool:
    """Mexico RFC with its check digit, via python-stdnum."""
    return _stdnum_rfc.is_valid(value.upper(), validate_check_digits=True)


def cuit_ok(digits: str) -> bool:
    """Argentina CUIT/CUIL (type prefix and check digit) via python-stdnum."""
    return _stdnum_cuit.is_valid(digits)


def ssn_ok(digits: str) -> bool:
    """US SSN: area, group and serial in issued ranges, not a known advertising number (python-stdnum)."""
    return _stdnum_ssn.is_valid(digits)
