"""Recognising a right asked for in a chat (``config/keywords.yaml``), in es, pt and en.

Text is compared after folding: case, accents, punctuation and runs of spaces do not matter, so
"¡BAJA!", "baja" and "Bája" are the same keyword.
"""

from __future__ import annotations

import functools
import os
import re
import unicodedata
from dataclasses import dataclass
from importlib import resources
from pathlib import Path
from typing import Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, field_validator

Language = Literal["es", "pt", "en"]
Intent = Literal["opt_out", "erasure", "access", "confirm", "cancel"]
LANGUAGES: tuple[Language, ...] = ("es", "pt", "en")
_NOT_WORD = re.compile(r"[\W_]+")


def fold(text: str) -> str:
    """Lower case, no accents, punctuation as spaces, single spaces, trimmed."""
    # Compatibility forms first (𝓐 → A), then case, then decompose again what casefolding composed.
    decomposed = unicodedata.normalize("NFKD", unicodedata.normalize("NFKD", text).casefold())
    plain = "".join(ch for ch in decomposed if not unicodedata.combining(ch))
    return _NOT_WORD.sub(" ", plain).strip()


class _Config(BaseModel):
    model_config = ConfigDict(extra="forbid")


class PerLanguage(_Config):
    es: list[str] = Field(default_factory=list)
    pt: list[str] = Field(default_factory=list)
    en: list[str] = Field(default_factory=list)

    @field_validator("es", "pt", "en")
    @classmethod
    def _folded(cls, entries: list[str]) -> list[str]:
        return [fold(str(entry)) for entry in entries if fold(str(entry))]


class IntentWords(_Config):
    whole: PerLanguage = Field(default_factory=PerLanguage)
    phrases: PerLanguage = Field(default_factory=PerLanguage)


class Replies(_Config):
    es: str = Field(min_length=1)
    pt: str = Field(min_length=1)
    en: str = Field(min_length=1)


class KeywordConfig(_Config):
    """The validated contents of keywords.yaml."""

    priority: list[Intent]
    opt_out_purposes: list[str] = Field(min_length=1)
    intents: dict[Intent, IntentWords]
    languages: dict[Language, list[str]]
    replies: dict[str, Replies]


@dataclass(frozen=True)
class Match:
    """A recognised intent and the languages whose keyword list matched (first is the best guess)."""

    intent: Intent
    languages: tuple[Language, ...]


class Keywords:
    """Keyword and phrase matching over the configuration."""

    def __init__(self, config: KeywordConfig) -> None:
        self.config = config

    def match(self, text: str | None, *, intents: tuple[Intent, ...] | None = None) -> Match | None:
        """The first intent (in priority order, or ``intents`` order) that ``text`` expresses."""
        folded = fold(text or "")
        if not folded:
            return None
        padded = f" {folded} "
        for intent in intents or tuple(self.config.priority):
            words = self.config.intents.get(intent)
            if words is None:
                continue
            found = tuple(
                language
                for language in LANGUAGES
                if folded in getattr(words.whole, language)
                or any(f" {phrase} " in padded for phrase in getattr(words.phrases, language))
            )
            if found:
                return Match(intent, found)
        return None

    def language_for(self, match: Match | None, region: str | None) -> Language:
        """The reply language: the matched keyword's, preferring the sender's country's when ambiguous."""
        regional = self.region_language(region)
        if match is None:
            return regional or "en"
        if regional in match.languages:
            return regional
        # A keyword shared by several languages (STOP) from an unknown country: English is the fallback.
        return "en" if len(match.languages) > 1 and "en" in match.languages else match.languages[0]

    def region_language(self, region: str | None) -> Language | None:
        """The language of a country (ISO 3166 alpha-2), if it is es or pt."""
        if not region:
            return None
        for language, regions in self.config.languages.items():
            if region.upper() in regions:
                return language
        return None

    def reply(self, name: str, language: Language) -> str:
        """A configured reply text in ``language``."""
        return str(getattr(self.config.replies[name], language))


@functools.cache
def keywords() -> Keywords:
    """The deployment's keywords: ``HABEAS_KEYWORDS_FILE`` if set, else the packaged default."""
    path = os.environ.get("HABEAS_KEYWORDS_FILE")
    source = Path(path) if path else resources.files("habeas").joinpath("config/keywords.yaml")
    return Keywords(KeywordConfig.model_validate(yaml.safe_load(source.read_text(encoding="utf-8"))))
