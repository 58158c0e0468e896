"""The data map file: the shipped map is valid and complete; bad maps fail with errors naming the place."""

from __future__ import annotations

import copy
from datetime import timedelta

import pytest
import yaml

from habeas import datamap
from habeas.config import ConfigurationError
from habeas.errors import Unprocessable

pytestmark = pytest.mark.unit

OWN_STORES = [
    "profiles",
    "identifiers",
    "conversations",
    "consent_ledger",
    "audit_log",
    "keyring",
    "requests",
    "exports",
    "support_desk",
]
NAMED_CATEGORIES = [
    "identifiers",
    "contact",
    "financial",
    "government_id",
    "conversation",
    "conversation_original",
    "consent",
    "audit",
    "keys",
    "export",
    "verification",
]


@pytest.fixture(autouse=True)
def _fresh_map(monkeypatch):
    monkeypatch.delenv("DATA_MAP_PATH", raising=False)
    datamap.data_map.cache_clear()
    yield
    datamap.data_map.cache_clear()


def shipped() -> dict:
    from importlib import resources

    return yaml.safe_load(resources.files("habeas").joinpath("config/datamap.yaml").read_text())


def invalid(raw: dict) -> str:
    with pytest.raises(ConfigurationError) as caught:
        datamap.load(yaml.safe_dump(raw, sort_keys=False))
    return str(caught.value)


def test_shipped_map_declares_every_own_store_in_order_and_every_named_category():
    dm = datamap.data_map()
    assert list(dm.stores) == OWN_STORES
    assert set(NAMED_CATEGORIES) <= set(dm.categories)
    assert [s.kind for s in dm.stores.values()].count("external") == 1
    assert dm.store("exports").kind == "s3"


def test_shipped_retention_periods():
    categories = datamap.data_map().categories
    assert categories["conversation"].retention.days == 90
    assert categories["conversation_original"].retention.days == 7
    assert categories["export"].retention.days == 7
    assert categories["verification"].retention.duration == timedelta(minutes=10)


def test_shipped_masking_gives_agents_partial_views_and_no_government_id():
    dm = datamap.data_map()
    assert dm.masking_for("profiles", "email", "agent") == "email_partial"
    assert dm.masking_for("profiles", "phone", "agent") == "phone_last4"
    assert dm.masking_for("profiles", "document_id", "agent") == "hidden"
    assert dm.categories["financial"].masking["agent"] == "last4"
    assert dm.masking_for("profiles", "document_id", "dpo") == "hidden"
    assert "dpo" in dm.reveal_roles_for("profiles", "document_id")
    assert "agent" not in dm.categories["government_id"].reveal_roles
    assert dm.masking_for("profiles", "email", "intruder") == "hidden"
    for name, category in dm.categories.items():
        assert set(category.masking) == {"agent", "supervisor", "dpo"}, name


def test_profile_fields_are_encrypted_rectifiable_and_email_phone_are_identifiers():
    profiles = datamap.data_map().store("profiles")
    assert profiles.table_env == "SUBJECTS_TABLE" and profiles.partition_key == "subject_id"
    assert set(profiles.encrypted_fields) == {"name", "email", "phone", "address", "document_id"}
    assert profiles.fields["email"].identifier == "email"
    assert profiles.fields["phone"].identifier == "phone"
    assert profiles.erasure.strategy == "delete"


def test_key_patterns_point_at_the_subject():
    dm = datamap.data_map()
    assert dm.store("audit_log").partition_for("sub_1") == "subject#sub_1"
    assert dm.store("profiles").partition_for("sub_1") == "sub_1"
    assert dm.store("exports").prefix_for("sub_1") == "exports/sub_1/"
    assert dm.store("identifiers").index == "by_subject"
    assert dm.store("identifiers").primary_key == ("blind_index",)
    assert dm.store("conversations").primary_key == ("subject_id", "sk")


def test_hash_chained_logs_are_retained_with_legal_basis():
    dm = datamap.data_map()
    for name in ("consent_ledger", "audit_log", "requests"):
        erasure = dm.store(name).erasure
        assert erasure.strategy == "retain" and erasure.legal_basis and erasure.period_days


def test_rectifiable_lists_where_each_field_lives():
    places = datamap.data_map().rectifiable()
    assert set(places) == {"name", "email", "phone", "address", "document_id"}
    store, field = places["email"][0]
    assert store.name == "profiles" and field == "email"
    # The external processor holds copies, so a rectification notifies it too (GDPR art. 19).
    assert [s.name for s, _ in places["email"]] == ["profiles", "support_desk"]
    assert [s.name for s, _ in places["address"]] == ["profiles"]


def test_unknown_store_is_a_configuration_error_naming_it():
    with pytest.raises(ConfigurationError, match="nowhere"):
        datamap.data_map().store("nowhere")


def test_validate_changes_normalises_identifiers_and_rejects_unknown_or_bad_values():
    dm = datamap.data_map()
    assert dm.validate_changes({"email": " Ana@Example.COM", "name": "Ana Souza"}) == {
        "email": "ana@example.com",
        "name": "Ana Souza",
    }
    assert dm.validate_changes({"phone": "+55 11 98765-4321"}) == {"phone": "+5511987654321"}
    for bad in ({"shoe_size": "42"}, {"email": "+5511987654321"}, {"name": ""}, {"name": 5}, {}, {"name": "x" * 201}):
        with pytest.raises(Unprocessable):
            dm.validate_changes(bad)


def test_data_map_path_overrides_the_packaged_file(tmp_path, monkeypatch):
    raw = shipped()
    raw["stores"] = {"profiles": raw["stores"]["profiles"]}
    path = tmp_path / "map.yaml"
    path.write_text(yaml.safe_dump(raw, sort_keys=False))
    monkeypatch.setenv("DATA_MAP_PATH", str(path))
    assert list(datamap.data_map().stores) == ["profiles"]


# ---------------------------------------------------------------- invalid maps


def test_unknown_category_names_store_and_field():
    raw = shipped()
    raw["stores"]["conversations"]["fields"]["text"]["category"] = "gossip"
    message = invalid(raw)
    assert "conversations" in message and "text" in message and "gossip" in message


def test_retain_without_legal_basis_or_period_is_rejected():
    raw = shipped()
    raw["stores"]["audit_log"]["erasure"] = {"strategy": "retain", "period_days": 30}
    assert "stores.audit_log" in invalid(raw) and "legal_basis" in invalid(raw)
    raw["stores"]["audit_log"]["erasure"] = {"strategy": "pseudonymize", "legal_basis": "art. 17(3)(b)"}
    assert "period_days" in invalid(raw)


def test_dynamodb_store_without_table_env_is_rejected():
    raw = shipped()
    del raw["stores"]["profiles"]["table_env"]
    message = invalid(raw)
    assert "stores.profiles" in message and "table_env" in message


@pytest.mark.parametrize(
    ("store", "change", "expected"),
    [
        ("exports", {"prefix": "exports/"}, "subject_id"),
        ("exports", {"prefix": "exports/{subject_id}"}, "end with '/'"),
        ("exports", {"table_env": "X_TABLE"}, "table_env not allowed"),
        ("audit_log", {"partition_value": "subject#{user}"}, "subject_id"),
        ("identifiers", {"key_attributes": None}, "key_attributes"),
        ("profiles", {"sort_prefix": "MSG#"}, "sort_key"),
        ("support_desk", {"secret_env": None}, "secret_env"),
        ("profiles", {"kind": "ftp"}, "kind"),
        ("profiles", {"shoe": 1}, "shoe"),
        ("exports", {"erasure": {"strategy": "shred"}}, "shred"),
        ("support_desk", {"fields": {"tickets": {"category": "processor", "encrypted": True}}}, "encrypted"),
        ("profiles", {"erasure": {"strategy": "obliterate"}}, "strategy"),
    ],
)
def test_malformed_store_is_rejected_with_its_name(store, change, expected):
    raw = shipped()
    raw["stores"][store] = {k: v for k, v in {**raw["stores"][store], **change}.items() if v is not None}
    message = invalid(raw)
    assert f"stores.{store}" in message and expected in message


def test_category_masking_must_name_every_role_and_known_styles():
    raw = shipped()
    broken = copy.deepcopy(raw)
    broken["categories"]["email"]["masking"] = {"agent": "email_partial", "dpo": "full"}
    assert "categories.email" in invalid(broken) and "supervisor" in invalid(broken)
    broken = copy.deepcopy(raw)
    broken["categories"]["email"]["masking"]["agent"] = "blurred"
    assert "categories.email" in invalid(broken)


def test_retention_must_be_positive():
    raw = shipped()
    raw["categories"]["export"]["retention"] = {"days": 0}
    assert "categories.export" in invalid(raw)


def test_not_yaml_is_a_configuration_error():
    with pytest.raises(ConfigurationError, match="YAML"):
        datamap.load("stores: [unclosed", source="bad.yaml")


def test_readme_example_stores_are_a_valid_data_map():
    import re
    from pathlib import Path

    readme = (Path(__file__).resolve().parents[3] / "README.md").read_text()
    section = readme.split("## Adding a store to the data map", 1)[1]
    example = yaml.safe_load(re.search(r"```yaml\n(.*?)```", section, re.S).group(1))
    raw = shipped()
    raw["stores"] = {**raw["stores"], **example["stores"]}
    dm = datamap.load(yaml.safe_dump(raw, sort_keys=False))
    assert dm.store("orders").partition_for("s1") == "cust#s1"
    assert dm.store("tickets").primary_key == ("ticket_id",)
    assert dm.store("crm").kind == "external"


def test_encrypted_field_stores_feed_key_rotation(monkeypatch):
    from habeas.keys import stores_from_json

    monkeypatch.setenv("SUBJECTS_TABLE", "subjects-physical")
    monkeypatch.setenv("CONVERSATIONS_TABLE", "conversations-physical")
    entries = datamap.data_map().encrypted_field_stores()
    assert entries == [
        {
            "table": "subjects-physical",
            "encrypted_attributes": ["name", "email", "phone", "address", "document_id"],
            "subject_key": "subject_id",
            "sort_key": None,
        },
        {
            "table": "conversations-physical",
            "encrypted_attributes": ["original_text"],
            "subject_key": "subject_id",
            "sort_key": "sk",
        },
    ]
    import json

    assert [s.table for s in stores_from_json(json.dumps(entries))] == ["subjects-physical", "conversations-physical"]
