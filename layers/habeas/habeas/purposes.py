"""The catalogue of processing purposes (``config/purposes.yaml``), validated at load time."""

from __future__ import annotations

import functools
import os
from importlib import resources
from pathlib import Path
from typing import Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, model_validator

LegalBasis = Literal["consent", "contract", "legal_obligation", "vital_interests", "public_task", "legitimate_interest"]


class Texts(BaseModel):
    """A text in each supported language."""

    model_config = ConfigDict(extra="forbid")
    es: str = Field(min_length=1)
    pt: str = Field(min_length=1)
    en: str = Field(min_length=1)


class Purpose(BaseModel):
    """One processing purpose, its legal basis and the versions of its policy text."""

    model_config = ConfigDict(extra="forbid")
    purpose: str = Field(pattern=r"^[a-z][a-z0-9_]{1,63}$")
    legal_basis: LegalBasis
    policy_version: str = Field(min_length=1, max_length=64)
    previous_versions: list[str] = Field(default_factory=list)
    description: Texts

    def knows(self, version: str) -> bool:
        """True if ``version`` is the current or an earlier version of this purpose's policy."""
        return version == self.policy_version or version in self.previous_versions


class Catalogue(BaseModel):
    """All purposes, by name."""

    model_config = ConfigDict(extra="forbid")
    purposes: list[Purpose]

    @model_validator(mode="after")
    def _unique(self) -> Catalogue:
        names = [p.purpose for p in self.purposes]
        if len(names) != len(set(names)):
            raise ValueError("purpose names must be unique")
        return self

    def get(self, name: str) -> Purpose | None:
        """The purpose called ``name``, if any."""
        return next((p for p in self.purposes if p.purpose == name), None)


@functools.cache
def catalogue() -> Catalogue:
    """The deployment's purposes: ``HABEAS_PURPOSES_FILE`` if set, else the packaged default."""
    path = os.environ.get("HABEAS_PURPOSES_FILE")
    source = Path(path) if path else resources.files("habeas").joinpath("config/purposes.yaml")
    text = source.read_text(encoding="utf-8")
    return Catalogue.model_validate(yaml.safe_load(text))
