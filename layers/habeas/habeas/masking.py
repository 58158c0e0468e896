"""Role-based masking: what each staff role sees of a field, as the data map declares per category.

Styles: ``hidden`` (not shown at all), ``last4`` (``****1111``), ``email_partial``
(``a***@example.com``), ``phone_last4`` (``*********4321``), ``initials`` (``A. L.``), ``full``.
Anything masked can only be seen in full through an audited reveal by a role the category allows.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from habeas.datamap import data_map

STYLES = ("hidden", "last4", "email_partial", "phone_last4", "initials", "full")
_ALNUM = re.compile(r"[A-Za-z0-9]")


def mask_value(value: str, style: str) -> str | None:
    """``value`` as ``style`` shows it; None when the style hides it (unknown styles hide too)."""
    if style == "full":
        return value
    if style == "last4":
        characters = _ALNUM.findall(value)
        return "****" + "".join(characters[-4:]) if len(characters) > 4 else "****"
    if style == "email_partial":
        local, at, domain = value.rpartition("@")
        if not at or not local:
            return "***"
        return f"{local[0]}***@{domain}"
    if style == "phone_last4":
        digits = re.sub(r"\D", "", value)
        if len(digits) <= 4:
            return "*" * len(digits)
        return "*" * (len(digits) - 4) + digits[-4:]
    if style == "initials":
        words = [w for w in re.split(r"[\s\-]+", value.strip()) if w]
        return " ".join(f"{w[0].upper()}." for w in words) or None
    return None  # hidden, or a style this code does not know: fail closed


@dataclass(frozen=True)
class MaskedRecord:
    """A record as one role sees it: the shown values and the style applied to each field."""

    values: dict[str, str] = field(default_factory=dict)
    styles: dict[str, str] = field(default_factory=dict)

    @property
    def shown(self) -> list[str]:
        """Fields the role saw in some form."""
        return sorted(self.values)

    @property
    def masked(self) -> list[str]:
        """Fields the role saw only partly or not at all (a reveal can show them)."""
        return sorted(name for name, style in self.styles.items() if style != "full")


def mask_record(store: str, record: Mapping[str, Any], role: str) -> MaskedRecord:
    """The data-map fields of ``record`` (from ``store``) masked for ``role``; other attributes dropped."""
    dm = data_map()
    values: dict[str, str] = {}
    styles: dict[str, str] = {}
    for name in dm.store(store).fields:
        if record.get(name) is None:
            continue
        style = dm.masking_for(store, name, role)
        styles[name] = style
        shown = mask_value(str(record[name]), style)
        if shown is not None:
            values[name] = shown
    return MaskedRecord(values, styles)


def may_reveal(store: str, field_name: str, roles: tuple[str, ...] | list[str]) -> bool:
    """True if one of ``roles`` is among the roles the field's category lets reveal it."""
    allowed = data_map().reveal_roles_for(store, field_name)
    return any(role in allowed for role in roles)


def category_of(store: str, field_name: str) -> str:
    """The data-map category of a store's field."""
    return data_map().store(store).fields[field_name].category
