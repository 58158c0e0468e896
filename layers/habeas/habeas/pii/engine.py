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
    if not lang:
        return None
    short = str(lang)[:2].lower()
    return short if short in LANGS else None


def _overlaps(taken: list[tuple[int, int]], start: int, end: int) -> bool:
    return any(start < e and s < end for s, e in taken)


def _resolve(candidates: list[d.Candidate]) -> list[d.Candidate]:
    """Keep non-overlapping candidates: strongest first, then longest, then by type and position."""
    ordered = sorted(candidates, key=lambda c: (-c[3], c[0] - c[1], _TYPE_ORDER.get(c[2], 99), c[0]))
    kept: list[d.Candidate] = []
    taken: list[tuple[int, int]] = []
    for c in ordered:
        if not _overlaps(taken, c[0], c[1]):
            kept.append(c)
            taken.append((c[0], c[1]))
    kept.sort()
    return kept


def detect(
    text: str, lang: str | None = None, default_region: str | None = None, *, region: str | None = None
) -> list[Span]:
    """Personal data in ``text`` as non-overlapping spans (offsets into ``text``), in order.

    ``lang`` ("es", "pt", "en"; None for unknown) and ``default_region`` (ISO country of the sender,
    e.g. from the phone number's prefix) choose the numbering plans for phones written without a
    country code; ``region`` is the same as ``default_region`` (the name the channel worker passes).
    """
    if not text:
        return []
    lang = normalise_lang(lang)
    candidates: list[d.Candidate] = list(d.emails(text))
    if _HAS_DIGIT.search(text) is None:
        return [Span(s, e, t) for s, e, t, _ in _resolve(candidates)]

    context = Context(text)
    candidates.extend(d.numbers(text, context, lang))
    candidates.extend(d.alphanumerics(text, context))
    candidates.extend(d.ips(text, context))
    taken = [(c[0], c[1]) for c in candidates if c[3] == d.STRONG]

    # Phones last: validating one costs more than all the regexes, so skip what is already a
    # stronger match (a formatted CPF or a card also looks like a run of digit groups).
    regions = phones.regions_for(lang, default_region or region)
    for start, end, raw in d.phone_candidates(text):
        if _overlaps(taken, start, end):
            continue
        found = d.phone(start, raw, regions, context)
        if found is not None:
            candidates.append(found)
    return [Span(s, e, t) for s, e, t, _ in _resolve(candidates)]


def _mask(value: str, span_type: str, style: MaskStyle) -> str:
    if style is MaskStyle.KEEP_LAST4 and span_type == "card":
        keep_from = len(value)
        seen = 0
        while keep_from > 0 and seen < 4:
            keep_from -= 1
            seen += value[keep_from].isdigit()
        head = "".join("*" if ch.isdigit() else ch for ch in value[:keep_from])
        return head + value[keep_from:]
    return f"[{span_type.upper()}]"


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
    style = MaskStyle(style)
    spans = detect(text, lang, default_region, region=region)
    if not spans:
        return Redaction(text, ())
    parts: list[str] = []
    last = 0
    for span in spans:
        parts.append(text[last : span.start])
        parts.append(_mask(text[span.start : span.end], span.type, style))
        last = span.end
    parts.append(text[last:])
    return Redaction("".join(parts), tuple(spans))
