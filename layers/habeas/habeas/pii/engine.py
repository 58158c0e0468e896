"""Detection and masking: run the finders, resolve overlaps, replace spans."""

from __future__ import annotations

import re

from habeas.pii import detectors as d
from habeas.pii import phones
from habeas.pii.context import Context
from habeas.pii.model import MaskStyle, Redaction, Span

LANGS = ("es", "pt", "en")
_HAS_DIGIT = re.compile(r"\d")
# Breaks ties between equally strong, equally long candidates so the result never depends on
# the order the finders ran in.
_TYPE_ORDER = {
    t: i
    for i, t in enumerate(
        ("card", "iban", "cnpj", "cpf", "curp", "rfc", "nie", "dni", "rut", "cuit", "ssn", "email", "ip", "phone")
    )
}


def normalise_lang(lang: str | None) -> str | None:
    """ "pt-BR" → "pt"; anything outside es / pt / en → None (every language's rules apply)."""
    if lang in LANGS:
        return lang
    if not lang:
        return None
    short = str(lang)[:2].lower()
    return short if short in LANGS else None


def _overlaps(taken: list[tuple[int, int]], start: int, end: int) -> bool:
    # A loop, not any(<generator>): most calls see zero to two spans, where the generator costs more.
    for s, e in taken:  # noqa: SIM110
        if start < e and s < end:
            return True
    return False


def _resolve(candidates: list[d.Candidate]) -> list[d.Candidate]:
    """Keep non-overlapping candidates: strongest first, then longest, then by type and position."""
    if len(candidates) < 2:
        return candidates
    by_position = sorted(candidates)
    for i in range(1, len(by_position)):
        if by_position[i][0] < by_position[i - 1][1]:
            break
    else:
        return by_position  # nothing overlaps: all kept, in order
    ordered = sorted(candidates, key=lambda c: (-c[3], c[0] - c[1], _TYPE_ORDER.get(c[2], 99), c[0]))
    kept: list[d.Candidate] = []
    taken: list[tuple[int, int]] = []
    for c in ordered:
        if not _overlaps(taken, c[0], c[1]):
            kept.append(c)
            taken.append((c[0], c[1]))
    kept.sort()
    return kept


def find(text: str, lang: str | None = None, region: str | None = None) -> list[d.Candidate]:
    """``detect``'s work without the Span objects: ``(start, end, type, strength)`` tuples, in order,
    not overlapping (the command line formats these directly)."""
    if not text:
        return []
    lang = normalise_lang(lang)
    candidates: list[d.Candidate] = d.emails(text) if "@" in text else []
    if _HAS_DIGIT.search(text) is None:
        return _resolve(candidates)

    context = Context(text)
    found, gates = d.numbers(text, context, lang)
    candidates.extend(found)
    if gates:
        candidates.extend(d.alphanumerics(text, context, gates))
    candidates.extend(d.ips(text, context))
    taken = [(c[0], c[1]) for c in candidates if c[3] == d.STRONG]

    # Phones last: validating one costs more than all the regexes, so skip what is already a
    # stronger match (a formatted CPF or a card also looks like a run of digit groups).
    candidates.extend(d.phones_in(text, taken, phones.regions_for(lang, region), context))
    return _resolve(candidates)


def detect(
    text: str, lang: str | None = None, default_region: str | None = None, *, region: str | None = None
) -> list[Span]:
    """Personal data in ``text`` as non-overlapping spans (offsets into ``text``), in order.

    ``lang`` ("es", "pt", "en"; None for unknown) and ``default_region`` (ISO country of the sender,
    e.g. from the phone number's prefix) choose the numbering plans for phones written without a
    country code; ``region`` is the same as ``default_region`` (the name the channel worker passes).
    """
    return [Span(s, e, t) for s, e, t, _ in find(text, lang, default_region or region)]


_PLACEHOLDERS: dict[str, str] = {}


def _mask(value: str, span_type: str, style: MaskStyle) -> str:
    if style is MaskStyle.KEEP_LAST4 and span_type == "card":
        keep_from = len(value)
        seen = 0
        while keep_from > 0 and seen < 4:
            keep_from -= 1
            seen += value[keep_from].isdigit()
        head = "".join("*" if ch.isdigit() else ch for ch in value[:keep_from])
        return head + value[keep_from:]
    placeholder = _PLACEHOLDERS.get(span_type)
    if placeholder is None:
        placeholder = _PLACEHOLDERS[span_type] = f"[{span_type.upper()}]"
    return placeholder


def masked(text: str, found: list[d.Candidate], style: MaskStyle = MaskStyle.PLACEHOLDER) -> str:
    """``text`` with each of ``find``'s spans replaced as ``style`` says."""
    if not found:
        return text
    parts: list[str] = []
    last = 0
    for start, end, span_type, _ in found:
        parts.append(text[last:start])
        parts.append(_mask(text[start:end], span_type, style))
        last = end
    parts.append(text[last:])
    return "".join(parts)


def redact(
    text: str,
    lang: str | None = None,
    default_region: str | None = None,
    style: MaskStyle | str = MaskStyle.PLACEHOLDER,
    *,
    region: str | None = None,
) -> Redaction:
    """Mask the personal data in ``text``; spans are offsets into the INPUT text.

    ``style`` is a :class:`MaskStyle` (or its value): typed placeholders (``[CARD]``, ``[CPF]``, ...)
    by default, or card numbers reduced to their last four digits. See :func:`detect` for the rest.
    """
    if style is not MaskStyle.PLACEHOLDER:
        style = MaskStyle(style)
    found = find(text, lang, default_region or region)
    if not found:
        return Redaction(text, ())
    return Redaction(masked(text, found, style), tuple(Span(s, e, t) for s, e, t, _ in found))
