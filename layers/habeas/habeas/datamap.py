"""The data map (``config/datamap.yaml``): every store holding personal data and how to act on it.

One declarative file names each store (DynamoDB table, S3 prefix, external processor), where one
subject's records are (key pattern or index, bucket prefix), which fields hold which categories of
personal data, which are encrypted, the erasure strategy and each category's retention and masking.
It is validated by pydantic on first use; an error names the offending store, field or category.
Adding a customer table or prefix is a few lines of YAML (see the README), no code.
"""

from __future__ import annotations

import functools
import os
import re
from datetime import timedelta
from importlib import resources
from pathlib import Path
from typing import Any, Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from habeas.config import ConfigurationError
from habeas.errors import Unprocessable

Role = Literal["agent", "supervisor", "dpo"]
ROLES: tuple[Role, ...] = ("agent", "supervisor", "dpo")
MaskStyle = Literal["hidden", "last4", "email_partial", "phone_last4", "initials", "full"]
StoreKind = Literal["dynamodb", "s3", "external"]
Strategy = Literal["delete", "shred", "pseudonymize", "retain"]
IdentifierKind = Literal["email", "phone"]

_NAME = r"^[a-z][a-z0-9_]{0,63}$"
_ENV = r"^[A-Z][A-Z0-9_]{0,127}$"
_PLACEHOLDER = re.compile(r"\{([^{}]*)\}")
EXPIRES_AT = "expires_at"  # the TTL attribute of every Habeas table (epoch seconds)


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class Retention(_Strict):
    """How long data of a category is kept, counted from its creation or the subject's last activity.

    ``minutes`` expresses sub-day retention (verification codes); use ``duration`` for the total.
    """

    days: int = Field(ge=0, le=36500)
    minutes: int = Field(0, ge=0, le=1440)
    anchor: Literal["created", "last_activity"] = "created"

    @model_validator(mode="after")
    def _positive(self) -> Retention:
        if self.days == 0 and self.minutes == 0:
            raise ValueError("retention must be longer than zero (days and/or minutes)")
        return self

    @property
    def duration(self) -> timedelta:
        """The whole retention period."""
        return timedelta(days=self.days, minutes=self.minutes)


class Category(_Strict):
    """A category of personal data: its retention, how each staff role sees it, who may reveal it."""

    description: str = ""
    retention: Retention | None = None
    masking: dict[Role, MaskStyle]
    reveal_roles: list[Role] = Field(default_factory=list)

    @field_validator("masking")
    @classmethod
    def _every_role(cls, masking: dict[str, str]) -> dict[str, str]:
        missing = [role for role in ROLES if role not in masking]
        if missing:
            raise ValueError(f"masking must name a style for every role; missing {', '.join(missing)}")
        return masking


class FieldSpec(_Strict):
    """One attribute of a store that holds personal data."""

    category: str
    encrypted: bool = False
    rectifiable: bool = False
    identifier: IdentifierKind | None = None
    # False leaves the field out of access exports (e.g. wrapped key material, meaningless to the subject).
    exported: bool = True
    # Longest value a rectification may write (identifiers are checked by their own rules).
    max_length: int = Field(500, ge=1, le=100_000)

    def normalise(self, value: Any, *, name: str = "field") -> str:
        """A rectification value in stored form; Unprocessable (naming only the field) if it is bad."""
        if not isinstance(value, str) or not value.strip():
            raise Unprocessable(f"{name}: must be a non-empty string")
        if self.identifier is not None:
            from habeas.identifiers import normalise

            parsed = normalise(value)
            if parsed.kind != self.identifier:
                raise Unprocessable(f"{name}: must be a valid {self.identifier}")
            return parsed.value
        if len(value) > self.max_length:
            raise Unprocessable(f"{name}: longer than {self.max_length} characters")
        return value.strip()


class Erasure(_Strict):
    """What erasure does in a store; ``retain`` and ``pseudonymize`` must say why and for how long."""

    strategy: Strategy
    legal_basis: str | None = Field(None, min_length=3, max_length=300)
    period_days: int | None = Field(None, ge=1, le=36500)

    @model_validator(mode="after")
    def _justified(self) -> Erasure:
        if self.strategy in ("retain", "pseudonymize") and (not self.legal_basis or not self.period_days):
            raise ValueError(f"strategy {self.strategy} requires legal_basis and period_days")
        return self


class Store(_Strict):
    """One place holding personal data, and where one subject's records are in it."""

    name: str = Field(pattern=_NAME)
    kind: StoreKind
    description: str = ""
    # dynamodb
    table_env: str | None = Field(None, pattern=_ENV)
    partition_key: str | None = None
    partition_value: str = "{subject_id}"
    sort_key: str | None = None
    sort_prefix: str | None = None
    index: str | None = None
    # The table's primary key attributes (needed to delete items found through ``index``);
    # defaults to partition_key (+ sort_key).
    key_attributes: list[str] | None = None
    # s3
    bucket_env: str | None = Field(None, pattern=_ENV)
    prefix: str | None = None
    # external processor
    endpoint_env: str | None = Field(None, pattern=_ENV)
    secret_env: str | None = Field(None, pattern=_ENV)
    fields: dict[str, FieldSpec] = Field(default_factory=dict)
    erasure: Erasure
    # The category whose retention policy sets the expiry of this store's items, when each item is
    # one record kept as a whole (a profile, a ledger). Stores whose items hold different categories
    # (a message and its original) leave it unset and stamp each item by its own category.
    retention_category: str | None = None

    @model_validator(mode="after")
    def _shape(self) -> Store:
        def forbid(*names: str) -> None:
            present = [n for n in names if getattr(self, n) is not None]
            if present:
                raise ValueError(f"{', '.join(present)} not allowed for kind {self.kind}")

        def require(*names: str) -> None:
            missing = [n for n in names if not getattr(self, n)]
            if missing:
                raise ValueError(f"kind {self.kind} requires {', '.join(missing)}")

        if self.kind == "dynamodb":
            require("table_env", "partition_key")
            forbid("bucket_env", "prefix", "endpoint_env", "secret_env")
            _subject_pattern(self.partition_value, "partition_value")
            if self.sort_prefix is not None and not self.sort_key:
                raise ValueError("sort_prefix requires sort_key")
            if self.index and not self.key_attributes:
                raise ValueError("index requires key_attributes (the table's primary key attributes)")
        elif self.kind == "s3":
            require("bucket_env", "prefix")
            forbid("table_env", "partition_key", "sort_key", "sort_prefix", "index", "key_attributes")
            forbid("endpoint_env", "secret_env")
            _subject_pattern(str(self.prefix), "prefix")
            if not str(self.prefix).endswith("/"):
                raise ValueError("prefix must end with '/' so one subject's prefix never covers another's")
        else:
            require("endpoint_env", "secret_env")
            forbid("table_env", "partition_key", "sort_key", "sort_prefix", "index", "key_attributes")
            forbid("bucket_env", "prefix")
        strategy = self.erasure.strategy
        if strategy == "shred" and self.kind != "dynamodb":
            raise ValueError("strategy shred applies to the keyring (a dynamodb store)")
        if strategy == "pseudonymize" and (self.kind != "dynamodb" or not self.fields):
            raise ValueError("strategy pseudonymize needs a dynamodb store with fields to pseudonymize")
        if self.kind != "dynamodb":
            encrypted = [name for name, spec in self.fields.items() if spec.encrypted]
            if encrypted:
                raise ValueError(f"fields {', '.join(encrypted)}: only dynamodb fields can be encrypted")
        for name, spec in self.fields.items():
            if name in self.primary_key and (spec.encrypted or spec.rectifiable):
                raise ValueError(f"field {name}: a key attribute cannot be encrypted or rectifiable")
        return self

    @property
    def primary_key(self) -> tuple[str, ...]:
        """Attribute names of the table's primary key (empty for s3 and external stores)."""
        if self.key_attributes:
            return tuple(self.key_attributes)
        return tuple(k for k in (self.partition_key, self.sort_key) if k)

    @property
    def encrypted_fields(self) -> list[str]:
        """Names of the fields holding FieldCipher ciphertext."""
        return [name for name, spec in self.fields.items() if spec.encrypted]

    def partition_for(self, subject_id: str) -> str:
        """The partition key value (or index key value) holding the subject's records."""
        return self.partition_value.format(subject_id=subject_id)

    def prefix_for(self, subject_id: str) -> str:
        """The S3 prefix holding the subject's objects."""
        if self.prefix is None:
            raise ConfigurationError(f"data map store {self.name}: no prefix")
        return self.prefix.format(subject_id=subject_id)

    def env_value(self, attribute: Literal["table_env", "bucket_env", "endpoint_env", "secret_env"]) -> str:
        """The value of the environment variable this store names; ConfigurationError if unset."""
        variable = getattr(self, attribute)
        value = os.environ.get(variable) if variable else None
        if not value:
            raise ConfigurationError(f"data map store {self.name}: missing setting {variable or attribute}")
        return value


def _subject_pattern(pattern: str, what: str) -> None:
    names = _PLACEHOLDER.findall(pattern)
    if names != ["subject_id"]:
        raise ValueError(f"{what} must contain {{subject_id}} exactly once and no other placeholder")


class DataMap(_Strict):
    """Every category and store of the deployment."""

    categories: dict[str, Category]
    stores: dict[str, Store]

    @model_validator(mode="before")
    @classmethod
    def _store_names(cls, raw: Any) -> Any:
        # In the file stores are keyed by name; each Store also carries its name.
        if isinstance(raw, dict) and isinstance(raw.get("stores"), dict):
            stores = {}
            for name, body in raw["stores"].items():
                if isinstance(body, dict) and body.get("name", name) != name:
                    raise ValueError(f"store {name}: name {body.get('name')!r} differs from its key")
                stores[name] = {**body, "name": name} if isinstance(body, dict) else body
            raw = {**raw, "stores": stores}
        return raw

    @model_validator(mode="after")
    def _references(self) -> DataMap:
        for name in self.categories:
            if not re.match(_NAME, name):
                raise ValueError(f"category {name!r}: names are lower_snake_case")
        for store in self.stores.values():
            for field, spec in store.fields.items():
                if spec.category not in self.categories:
                    raise ValueError(f"store {store.name}, field {field}: unknown category {spec.category!r}")
            if store.retention_category is not None:
                category = self.categories.get(store.retention_category)
                if category is None or category.retention is None:
                    raise ValueError(
                        f"store {store.name}: retention_category {store.retention_category!r} "
                        "must name a category with a retention policy"
                    )
                if store.kind != "dynamodb":
                    raise ValueError(f"store {store.name}: retention_category applies to dynamodb stores")
        seen: dict[str, FieldSpec] = {}
        for store in self.stores.values():
            for field, spec in store.fields.items():
                if not spec.rectifiable:
                    continue
                first = seen.setdefault(field, spec)
                if (first.identifier, first.category) != (spec.identifier, spec.category):
                    raise ValueError(
                        f"store {store.name}, field {field}: rectifiable field declared differently in two stores"
                    )
        return self

    def store(self, name: str) -> Store:
        """The store called ``name``; ConfigurationError naming it if the data map has none."""
        try:
            return self.stores[name]
        except KeyError:
            raise ConfigurationError(f"data map has no store {name!r}") from None

    def category(self, name: str) -> Category:
        """The category called ``name``; ConfigurationError naming it if unknown."""
        try:
            return self.categories[name]
        except KeyError:
            raise ConfigurationError(f"data map has no category {name!r}") from None

    def rectifiable(self) -> dict[str, list[tuple[Store, str]]]:
        """Field name -> the (store, field) places it lives, for every rectifiable field."""
        places: dict[str, list[tuple[Store, str]]] = {}
        for store in self.stores.values():
            for field, spec in store.fields.items():
                if spec.rectifiable:
                    places.setdefault(field, []).append((store, field))
        return places

    def validate_changes(self, changes: Any) -> dict[str, str]:
        """Rectification ``changes`` checked against the map and normalised; Unprocessable if not valid."""
        if not isinstance(changes, dict) or not changes:
            raise Unprocessable("changes must be a non-empty object of field name to new value")
        places = self.rectifiable()
        unknown = sorted(name for name in changes if name not in places)
        if unknown:
            raise Unprocessable(f"fields that cannot be rectified: {', '.join(unknown)}")
        return {name: places[name][0][0].fields[name].normalise(value, name=name) for name, value in changes.items()}

    def encrypted_field_stores(self) -> list[dict[str, Any]]:
        """Where encrypted fields live, in ``habeas.keys.stores_from_json``'s format, for key rotation.

        Covers DynamoDB stores keyed directly by the subject id (rotation queries by subject); table
        names come from each store's ``table_env``, so call it where those variables are set.
        """
        entries = []
        for store in self.stores.values():
            if store.kind != "dynamodb" or not store.encrypted_fields:
                continue
            if store.index or store.partition_value != "{subject_id}":
                raise ConfigurationError(
                    f"data map store {store.name}: encrypted fields need a table keyed by the bare subject id"
                )
            entries.append(
                {
                    "table": store.env_value("table_env"),
                    "encrypted_attributes": store.encrypted_fields,
                    "subject_key": store.partition_key,
                    "sort_key": store.sort_key,
                }
            )
        return entries

    def masking_for(self, store_name: str, field: str, role: str) -> str:
        """The masking style of ``field`` of ``store_name`` for ``role`` ("hidden" for unknown roles)."""
        store = self.store(store_name)
        spec = store.fields.get(field)
        if spec is None:
            raise ConfigurationError(f"data map store {store_name!r} has no field {field!r}")
        return self.categories[spec.category].masking.get(role, "hidden")  # type: ignore[call-overload]

    def reveal_roles_for(self, store_name: str, field: str) -> list[str]:
        """Roles that may reveal ``field`` of ``store_name`` in full."""
        spec = self.store(store_name).fields.get(field)
        if spec is None:
            raise ConfigurationError(f"data map store {store_name!r} has no field {field!r}")
        return list(self.categories[spec.category].reveal_roles)


def load(text: str, *, source: str = "data map") -> DataMap:
    """Parse and validate a data map document; ConfigurationError with every problem, by location."""
    try:
        raw = yaml.safe_load(text)
    except yaml.YAMLError as error:
        raise ConfigurationError(f"{source}: not valid YAML ({error})") from None
    try:
        return DataMap.model_validate(raw)
    except ValidationError as error:
        problems = "; ".join(
            f"{'.'.join(str(part) for part in e['loc']) or '<root>'}: {e['msg']}" for e in error.errors()
        )
        raise ConfigurationError(f"{source} is invalid: {problems}") from None


@functools.cache
def data_map() -> DataMap:
    """The deployment's data map: ``DATA_MAP_PATH`` if set, else the packaged ``config/datamap.yaml``."""
    path = os.environ.get("DATA_MAP_PATH")
    source = Path(path) if path else resources.files("habeas").joinpath("config/datamap.yaml")
    return load(source.read_text(encoding="utf-8"), source=str(path or "config/datamap.yaml"))
