"""Candidate finders: one precompiled regex per format, then a check digit or context to confirm.

Each finder yields ``(start, end, type, strength)``. Strength orders overlapping candidates:

* STRONG: a distinctive format confirmed by a check digit or range (a Luhn-valid card in an issuer
  range, a formatted CPF, an IBAN, an e-mail address, an IP address);
* MEDIUM: a bare number that passes a check digit, or a phone valid in a numbering plan; dropped
  when the words around it say it is an order, tracking or protocol number or an amount;
* WEAK: a number with no check digit (Argentine DNI, Colombian cédula, bare SSN), kept only when a
  context word names the document.

All regexes refuse to start or end inside a longer token (a letter, digit, decimal point or slash
next to the match), so "R$1.234,56", "2024-05-12" or "PED-2024-12345" never yield a sub-match.
"""

from __future__ import annotations

import ipaddress
import re
from collections.abc import Callable

from habeas.pii import checksums as cs
from habeas.pii import phones
from habeas.pii.context import ID, MONEY, NEG, PHONE

STRONG, MEDIUM, WEAK = 3, 2, 1

Candidate = tuple[int, int, str, int]
ContextFn = Callable[[int, int], str | None]

_L = r"[\w.,/+@#$€-]"  # left edge: a match never follows one of these (inside a word, number, amount, reference)
_R = r"(?![\w@]|[.,/-]?\d)"  # right edge: not followed by more of a number

_EMAIL = re.compile(r"(?<![\w.+%-])[\w.+%-]+@[\w-]+(?:\.[\w-]+)*\.[A-Za-z]{2,24}(?![\w-])")
# Every digit-group shape, in one pass (on chat-sized text a regex call costs more than its
# matching). Alternatives are tried in order at each position, the most specific first.
# Each pattern here starts by consuming one digit (its left-edge test a two-character lookbehind
# over that digit), and each alternative reads on from the SECOND digit: a pattern that starts with a
# character class lets the regex engine skip straight to the next digit instead of trying every
# alternative at every position, which halves the scan on chat text.
#
# The same pass also reports the digits where an id with letters (CURP, RFC, NIE, IBAN) can have
# its first digit, right after a letter, "&", or X/Y/Z and a separator (shapes "gate" and
# "gate_sep", one digit long), so alphanumerics() needs no scan of its own. A number never has
# such a digit inside it (letters end a number), so none is skipped; one where a number starts is
# found by the caller.
_NUMBER = re.compile(
    r"\d(?:(?<=[A-Za-zÑñ]\d)(?P<gate>)"  # a letter: never a number's left edge, so tried first
    r"|(?<!" + _L + r"\d)(?:"
    # grouped cards: 4-4-4-4[-3], 13-digit Visa 4-4-4-1, Amex/Diners 4-6-5/4-6-4 (bare ones are <bare>),
    # not the tail of a longer grouped number (USPS tracking: 9400 1111 2222 3333 4444 55)
    r"(?P<card>(?<!\d\d\d\d[ -]\d)(?:\d{3}(?P<sep4>[ -])\d{4}(?P=sep4)\d{4}(?P=sep4)\d{1,4}(?:(?P=sep4)\d{1,3})?"
    r"|\d{3}(?P<sep6>[ -])\d{6}(?P=sep6)\d{4,5})(?![\w@/]|[.,-]?\d|[ -]\d{4}))"
    r"|(?P<cnpj>\d\.\d{3}\.\d{3}/\d{4}-\d{2}|\d{7}/\d{4}-\d{2})"
    r"|(?P<cpf>\d{2}\.\d{3}\.\d{3}-?\d{2}|\d{8}-\d{2})"
    r"|(?P<dni_es>\d{7}(?:-?[A-Za-z]| [A-Z]))(?!\w)"
    r"|(?P<rut>(?:\d?\.\d{3}\.\d{3}|\d{6,7})-[\dkK]|\d{6,7}[kK])"
    r"|(?P<cuit>(?:(?<=2)[03-7]|(?<=3)[034])(?P<cuit_sep>[- ])\d{8}(?P=cuit_sep)\d)"
    r"|(?P<ssn>\d{2}(?P<ssn_sep>[- ])\d{2}(?P=ssn_sep)\d{4})"
    r"|(?P<dotted>\d{0,2}(?:\.\d{3}){2,3})(?![\w@]|[.,/-]?\w)"
    r"|(?P<bare>\d{5,18})"
    r")" + _R + r"|(?:(?<=&\d)|(?<=[XYZxyz][ -]\d))(?P<gate_sep>))"  # "&" or "X ": after the numbers
)
# Ids that start with letters, in one pass too: CURP, RFC, NIE, IBAN.
_ALNUM = re.compile(
    r"(?<![\w&-])(?:"
    r"(?P<curp>[A-Za-z]{4}\d{6}[HMXhmx][A-Za-z]{5}[A-Za-z\d]\d)(?!\w)"
    r"|(?P<rfc>[A-Za-zÑñ&]{3,4}\d{6}[A-Za-z\d]{3})(?!\w)"
    r"|(?P<nie>[XYZxyz][ -]?\d{7}[ -]?[A-Za-z])(?!\w)"
    r"|(?P<iban>[A-Za-z]{2}\d{2}(?: ?[A-Za-z\d]){11,32})"
    r")"
)
_IPV4 = re.compile(
    r"(?<![\w.])(?:(?:25[0-5]|2[0-4]\d|1\d\d|[1-9]?\d)\.){3}(?:25[0-5]|2[0-4]\d|1\d\d|[1-9]?\d)(?!\w|\.\d)"
)
_IPV4_GATE = re.compile(r"\d\.\d{1,3}\.\d{1,3}\.\d")  # four dotted numbers somewhere; digit-first
_IPV6 = re.compile(r"(?<![\w:.])(?:[0-9A-Fa-f]{0,4}:){2,7}(?:[0-9A-Fa-f]{1,4}|\d{1,3}(?:\.\d{1,3}){3})?(?![\w:])")
# Digit groups joined by one separator, with an optional +/00 and area code in parentheses. Each
# group is maximal and separators are mandatory between groups, so matching stays linear.
# Digit-first like _NUMBER: the first "+", "(" or digit is consumed, then each start reads on.
_PHONE = re.compile(
    r"[\d+(](?<!" + _L + r"[\d+(])"
    r"(?:(?<=\+) ?(?:\(\d{1,4}\) ?)?\d+|(?<=\()\d{1,4}\) ?\d+|(?<=\d)\d*)"
    r"(?:(?:[ .-]| ?\(\d{1,4}\) ?)\d+)*" + _R
)
_DATE = re.compile(r"\d{1,4}([-./])\d{1,2}\1\d{2,4}")
# Written like a document (RUT, AR DNI, CPF with dots): if its check digit failed it is a reference, not a phone.
_ID_SHAPE = re.compile(r"\d{1,2}\.\d{3}\.\d{3}(?:-\d)?|\d{3}\.\d{3}\.\d{3}-\d{2}")


def emails(text: str) -> list[Candidate]:
    """E-mail addresses (local part, @, a domain with a letter TLD)."""
    if "@" not in text:
        return []
    return [(*m.span(), "email", STRONG) for m in _EMAIL.finditer(text)]


def _iban(start: int, raw: str) -> Candidate | None:
    """An IBAN at the start of ``raw``: the regex runs long, so cut back to the longest valid length
    that ends between groups ("ES91 2100 ... 1332 por favor")."""
    ends = [i + 1 for i, ch in enumerate(raw) if ch != " "]  # end offset of each alphanumeric
    compact = raw.replace(" ", "").upper()
    for length in range(min(len(compact), 34), 14, -1):
        end = ends[length - 1]
        if end < len(raw) and raw[end] != " ":
            continue  # would cut through a group
        if cs.iban_ok(compact[:length]):  # mod 97 first, then python-stdnum
            return start, start + end, "iban", STRONG
    return None


def numbers(text: str, context: ContextFn, lang: str | None) -> tuple[list[Candidate], list[int]]:
    """CPF, CNPJ, RUT, CUIT/CUIL, SSN, DNI and cédula written as digit groups, and bare card numbers.

    Formatted and check-digit-valid: STRONG. Bare but check-digit-valid (CPF, CNPJ, a RUT ending in
    K): MEDIUM unless the words around say reference, amount or phone. No check digit at all (AR DNI,
    cédula, bare SSN): WEAK, only next to the document's name.

    Also returns the gates for :func:`alphanumerics`: the positions of digits right after a letter,
    or after X/Y/Z and a separator, in order.
    """
    found: list[Candidate] = []
    gates: list[int] = []
    for m in _NUMBER.finditer(text):
        shape = m.lastgroup
        start, end = m.span()
        if shape == "gate" or shape == "gate_sep":
            gates.append(start)
            continue
        if start and (
            text[start - 1] == "&" or (start > 1 and text[start - 1] in " -" and text[start - 2] in "XYZxyz")
        ):
            gates.append(start)  # "X 1234567", "AB&8...": a NIE or an RFC may start here as well as a number
        raw = m.group()
        # Shapes by how often chat text has them; separators dropped with str.replace (each shape
        # has only the separators its pattern allows), cheaper than a regex substitution.
        if shape == "bare":
            candidate = _bare(raw, start, end, context, lang)
            if candidate is not None:
                found.append(candidate)
        elif shape == "card":
            digits = raw.replace(" ", "").replace("-", "")
            if cs.card_issuer_ok(digits) and cs.luhn_ok(digits):
                found.append((start, end, "card", STRONG))
        elif shape == "cpf":
            if cs.cpf_ok(raw.replace(".", "").replace("-", "")):
                found.append((start, end, "cpf", STRONG))
        elif shape == "ssn":
            if cs.ssn_ok(raw.replace("-", "").replace(" ", "")):
                found.append((start, end, "ssn", STRONG))
        elif shape == "dni_es":
            candidate = _dni_es(raw, start, end, context, lang)
            if candidate is not None:
                found.append(candidate)
        elif shape == "cnpj":
            if cs.cnpj_ok(raw.replace(".", "").replace("/", "").replace("-", "")):
                found.append((start, end, "cnpj", STRONG))
        elif shape == "rut":
            if cs.rut_ok(raw[:-1].replace(".", "").replace("-", ""), raw[-1]):
                if "-" in raw:
                    found.append((start, end, "rut", STRONG))
                elif context(start, end) not in (NEG, MONEY):
                    found.append((start, end, "rut", MEDIUM))
        elif shape == "dotted":
            # "12.345.678": how DNIs are printed in Argentina, amounts told apart by context; longer
            # dotted numbers ("1.023.456.789") are Colombian cédulas only when called one.
            kind = context(start, end)
            if kind == "cedula" or (kind == ID and len(raw) > 10):
                found.append((start, end, "cedula", MEDIUM))
            elif kind not in (NEG, MONEY, PHONE) and len(raw) <= 10 and raw.index(".") <= 2:
                found.append((start, end, "dni", MEDIUM))
        elif cs.cuit_ok(raw.replace("-", "").replace(" ", "")):  # cuit
            found.append((start, end, "cuit", STRONG))
    return found, gates


def _dni_es(raw: str, start: int, end: int, context: ContextFn, lang: str | None) -> Candidate | None:
    """Eight digits and a letter: a Spanish DNI if the letter checks, else maybe a RUT ending in K,
    else the digits alone (an Argentine DNI followed by a word)."""
    digits, letter = raw[:8], raw[-1]
    if cs.dni_es_ok(digits, letter):
        return start, end, "dni", STRONG
    if letter in "kK" and cs.rut_ok(digits, letter):
        if "-" in raw:
            return start, end, "rut", STRONG
        if context(start, end) not in (NEG, MONEY):
            return start, end, "rut", MEDIUM
    if raw[8] == " ":
        return _bare(digits, start, start + 8, context, lang)
    return None


def _bare(digits: str, start: int, end: int, context: ContextFn, lang: str | None) -> Candidate | None:
    """One unformatted run of digits."""
    n = len(digits)
    if n >= 13 and cs.card_issuer_ok(digits) and cs.luhn_ok(digits):
        return start, end, "card", STRONG
    kind = context(start, end)
    if kind in (NEG, MONEY):
        # Called a reference or an amount, a number whose two CPF (or CNPJ) check digits hold is
        # still masked, as a card number is: one random number in a hundred passes them, while a
        # leaked CPF cannot be taken back.
        if (n == 11 and cs.cpf_ok(digits)) or (n == 14 and cs.cnpj_ok(digits)):
            return start, end, "cpf" if n == 11 else "cnpj", WEAK
        return None
    # Next to a phone word a valid CPF/CNPJ is kept only as WEAK: a phone that validates on the same
    # digits wins, and if none does, the number is still masked rather than leaked.
    strength = WEAK if kind == PHONE else MEDIUM
    if n == 11:
        if kind in ("cuit", ID) and cs.cuit_ok(digits):
            return start, end, "cuit", MEDIUM
        if cs.cpf_ok(digits):
            return start, end, "cpf", strength
    if n == 14 and cs.cnpj_ok(digits):
        return start, end, "cnpj", strength
    if kind == PHONE:
        return None
    if kind is None:
        return None
    if kind == "ssn" and n == 9 and cs.ssn_ok(digits):
        return start, end, "ssn", WEAK
    if kind == "rut" and n in (8, 9) and cs.rut_ok(digits[:-1], digits[-1]):
        return start, end, "rut", WEAK
    if kind == "cedula" and 6 <= n <= 10:
        return start, end, "cedula", WEAK
    if kind in ("dni", ID) and n in (7, 8):
        return start, end, "dni", WEAK
    if kind == ID and 6 <= n <= 10 and lang in (None, "es"):
        return start, end, "cedula", WEAK
    return None


def alphanumerics(text: str, context: ContextFn, gates: list[int]) -> list[Candidate]:
    """CURP (check digit), RFC (check digit, or its format next to the word RFC), NIE (control
    letter) and IBAN (mod 97 and the country's format).

    Every one of these has its first digit 1-4 characters after its start, right after a letter (or
    X/Y/Z and a separator): ``gates`` are those digits (from :func:`numbers`), and the pattern is
    tried only at the few positions before each, in order, instead of searching the whole message
    (the same leftmost matches a search would find)."""
    found: list[Candidate] = []
    pos = 0  # nothing before this can start a match (searched, or inside an earlier match)
    for digit in gates:
        for at in range(max(pos, digit - 4), digit):
            m = _ALNUM.match(text, at)
            if m is not None:
                break
        else:
            pos = max(pos, digit)
            continue
        shape, start, end = m.lastgroup, m.start(), m.end()
        raw = m.group()
        pos = end
        if shape == "curp":
            if cs.curp_ok(raw):
                found.append((start, end, "curp", STRONG))
        elif shape == "rfc":
            if cs.rfc_ok(raw):
                found.append((start, end, "rfc", STRONG))
            elif context(start, end) == "rfc":
                found.append((start, end, "rfc", MEDIUM))
        elif shape == "nie":
            compact = raw.replace(" ", "").replace("-", "")
            if cs.nie_ok(compact[0], compact[1:8], compact[8]):
                found.append((start, end, "nie", STRONG))
        else:
            # The IBAN pattern runs on through following words; resume where the IBAN really ends
            # (or right after its start if there is none), or an id after it would be missed.
            candidate = _iban(start, raw)
            if candidate is not None:
                found.append(candidate)
            pos = candidate[1] if candidate is not None else start + 1
    return found


def ips(text: str, context: ContextFn) -> list[Candidate]:
    """IPv4 dotted quads (not version numbers) and IPv6 addresses."""
    found: list[Candidate] = []
    if text.count(".") >= 3 and _IPV4_GATE.search(text) is not None:
        for m in _IPV4.finditer(text):
            start, end = m.span()
            if context(start, end) != NEG:  # "versão 1.2.3.4", "model 10.0.0.1"
                found.append((start, end, "ip", STRONG))
    if text.count(":") >= 2:
        for m in _IPV6.finditer(text):
            value = m.group()
            if value.count(":") < 2 or not any(c.isalnum() for c in value):
                continue
            try:
                ipaddress.IPv6Address(value)
            except ValueError:
                continue
            found.append((*m.span(), "ip", STRONG))
    return found


def phones_in(text: str, taken: list[tuple[int, int]], regions: tuple[str, ...], context: ContextFn) -> list[Candidate]:
    """Phone numbers: substrings shaped like one (7-15 digits, phone separators, not a date, not
    inside a span in ``taken``), decided by the numbering plans and the words around them."""
    found = []
    for m in _PHONE.finditer(text):
        start, end = m.span()
        if end - start < 7:
            continue
        for s, e in taken:
            if start < e and s < end:
                break
        else:
            raw = m.group()
            # the pattern admits digits and these separators only; str.replace beats a regex here
            digits = raw.replace(" ", "").replace("-", "").replace(".", "").replace("(", "").replace(")", "")
            if raw[0] == "+":
                digits = digits[1:]
            if not 7 <= len(digits) <= 15:
                continue
            # dates and id shapes need a "." or "-"; most candidates have neither, so skip the regexes
            if ("." in raw or "-" in raw) and (_DATE.fullmatch(raw) or _ID_SHAPE.fullmatch(raw)):
                continue
            if _phone_ok(start, end, raw, digits, regions, context):
                found.append((start, end, "phone", MEDIUM))
    return found


def _phone_ok(start: int, end: int, raw: str, digits: str, regions: tuple[str, ...], context: ContextFn) -> bool:
    """Decide one phone candidate (``raw`` is ``text[start:end]``, ``digits`` its digits)."""
    kind = context(start, end)
    if kind in (NEG, MONEY):
        return False
    if raw[0] == "+" or raw.startswith("00"):
        return phones.international_digits_ok(digits[2:] if raw[0] == "0" else digits)
    formatted = len(digits) != len(raw)
    # A bare run of digits next to another document's name is that document, not a phone.
    if not formatted and kind not in (None, PHONE):
        return False
    if phones.national_digits_ok(digits, regions):
        return True
    # Written as a phone or called one: also try the other regions (a relative's number abroad).
    if (formatted or kind == PHONE) and phones.national_digits_ok(digits, phones.other_regions(regions)):
        return True
    return kind in (None, PHONE) and phones.local_only(raw)
