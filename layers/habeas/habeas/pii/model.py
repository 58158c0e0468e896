"""What the redaction engine returns: spans of personal data and the masked text."""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum


class MaskStyle(StrEnum):
    """How a detected value is replaced in the output text."""

    #: every value becomes a typed placeholder: ``[CARD]``, ``[EMAIL]``, ``[CPF]``, ...
    PLACEHOLDER = "placeholder"
    #: card numbers keep their last four digits and separators (``**** **** **** 1111``), the
    #: rest as placeholders: agents can still tell which card a customer means.
    KEEP_LAST4 = "keep_last4"


# Dataclasses with slots, not pydantic models: the engine runs inline on every chat message and
# builds a handful of spans per message, so construction cost matters more than validation here.
@dataclass(frozen=True, slots=True)
class Span:
    """One detected value: ``text[start:end]`` of the INPUT text is personal data of kind ``type``."""

    start: int
    end: int
    type: str

    def to_dict(self) -> dict[str, int | str]:
        """The contract's JSON form ``{"start", "end", "type"}``."""
        return {"start": self.start, "end": self.end, "type": self.type}

    def __getitem__(self, key: str) -> int | str:
        # Lets callers that treat spans as mappings (``span["type"]``) keep working.
        return getattr(self, key)


@dataclass(frozen=True, slots=True)
class Redaction:
    """The masked text and the spans found, with offsets into the input text."""

    text: str
    spans: tuple[Span, ...]

    @property
    def types(self) -> tuple[str, ...]:
        """The distinct kinds of personal data found (never the values), sorted."""
        return tuple(sorted({span.type for span in self.spans}))
