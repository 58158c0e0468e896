"""Role-based masking: every category of the shipped data map, for every role, shows exactly this."""

import pytest

from habeas.datamap import ROLES, data_map
from habeas.masking import STYLES, mask_record, mask_value, may_reveal

pytestmark = pytest.mark.unit

SAMPLES = {
    "email": "ana.souza@example.com",
    "phone": "+5511987654321",
    "financial": "4111 1111 1111 1111",
    "government_id": "123.456.789-09",
    "name": "Ana Souza",
    "contact": "Rua das Flores 12, Sao Paulo",
}
OPAQUE = "opaque-value-1234"
HIDDEN = None

# (category, role) -> what that role is shown of the category's sample value (None: not shown at all).
EXPECTED = {
    ("profile", "agent"): HIDDEN,  # the profile record as a whole; its fields have their own categories
    ("profile", "supervisor"): HIDDEN,
    ("profile", "dpo"): HIDDEN,
    ("identifiers", "agent"): OPAQUE,
    ("identifiers", "supervisor"): OPAQUE,
    ("identifiers", "dpo"): OPAQUE,
    ("name", "agent"): "Ana Souza",
    ("name", "supervisor"): "Ana Souza",
    ("name", "dpo"): "Ana Souza",
    ("email", "agent"): "a***@example.com",
    ("email", "supervisor"): "ana.souza@example.com",
    ("email", "dpo"): "ana.souza@example.com",
    ("phone", "agent"): "*********4321",
    ("phone", "supervisor"): "+5511987654321",
    ("phone", "dpo"): "+5511987654321",
    ("contact", "agent"): HIDDEN,
    ("contact", "supervisor"): "Rua das Flores 12, Sao Paulo",
    ("contact", "dpo"): "Rua das Flores 12, Sao Paulo",
    ("financial", "agent"): "****1111",
    ("financial", "supervisor"): "****1111",
    ("financial", "dpo"): HIDDEN,  # a DPO sees cards only through an explicit, audited reveal
    ("government_id", "agent"): HIDDEN,
    ("government_id", "supervisor"): "****8909",
    ("government_id", "dpo"): HIDDEN,
    ("conversation", "agent"): OPAQUE,  # already redacted when stored
    ("conversation", "supervisor"): OPAQUE,
    ("conversation", "dpo"): OPAQUE,
    ("conversation_original", "agent"): HIDDEN,
    ("conversation_original", "supervisor"): HIDDEN,
    ("conversation_original", "dpo"): HIDDEN,
    ("consent", "agent"): OPAQUE,
    ("consent", "supervisor"): OPAQUE,
    ("consent", "dpo"): OPAQUE,
    ("network", "agent"): HIDDEN,
    ("network", "supervisor"): HIDDEN,
    ("network", "dpo"): OPAQUE,
    ("audit", "agent"): HIDDEN,
    ("audit", "supervisor"): HIDDEN,
    ("audit", "dpo"): OPAQUE,
    ("keys", "agent"): HIDDEN,
    ("keys", "supervisor"): HIDDEN,
    ("keys", "dpo"): HIDDEN,
    ("export", "agent"): HIDDEN,
    ("export", "supervisor"): HIDDEN,
    ("export", "dpo"): HIDDEN,
    ("verification", "agent"): HIDDEN,
    ("verification", "supervisor"): HIDDEN,
    ("verification", "dpo"): HIDDEN,
    ("processor", "agent"): HIDDEN,
    ("processor", "supervisor"): HIDDEN,
    ("processor", "dpo"): OPAQUE,
}


def test_the_table_covers_every_category_and_role_of_the_data_map():
    assert set(EXPECTED) == {(category, role) for category in data_map().categories for role in ROLES}


@pytest.mark.parametrize(("category", "role"), sorted(EXPECTED))
def test_each_role_sees_exactly_its_masking_of_each_category(category, role):
    style = data_map().categories[category].masking[role]
    assert mask_value(SAMPLES.get(category, OPAQUE), style) == EXPECTED[(category, role)]


@pytest.mark.parametrize(
    ("value", "style", "shown"),
    [
        ("4111111111111111", "last4", "****1111"),
        ("12", "last4", "****"),
        ("a@b.co", "email_partial", "a***@b.co"),
        ("no-at-sign", "email_partial", "***"),
        ("+34 612 345 678", "phone_last4", "*******5678"),
        ("ada king lovelace", "initials", "A. K. L."),
        ("anything", "hidden", None),
        ("anything", "a-style-nobody-declared", None),  # unknown styles fail closed
        ("anything", "full", "anything"),
    ],
)
def test_each_style_shows_only_what_it_names(value, style, shown):
    assert mask_value(value, style) == shown


def test_every_declared_style_is_implemented():
    declared = {style for category in data_map().categories.values() for style in category.masking.values()}
    assert declared <= set(STYLES)


def test_a_masked_profile_for_an_agent_omits_hidden_fields_and_drops_unknown_attributes():
    record = {
        "subject_id": "sub_1",
        "name": "Ana Souza",
        "email": "ana.souza@example.com",
        "phone": "+5511987654321",
        "address": "Rua das Flores 12",
        "document_id": "123.456.789-09",
        "internal_note": "never shown: not a data-map field",
    }
    view = mask_record("profiles", record, "agent")
    assert view.values == {"name": "Ana Souza", "email": "a***@example.com", "phone": "*********4321"}
    assert view.masked == ["address", "document_id", "email", "phone"]


@pytest.mark.parametrize(
    ("field", "roles", "allowed"),
    [
        ("document_id", ("agent",), False),
        ("document_id", ("supervisor",), False),
        ("document_id", ("dpo",), True),
        ("email", ("agent",), False),
        ("email", ("supervisor",), True),
        ("name", ("dpo",), False),  # nothing to reveal: no role is named
    ],
)
def test_only_the_roles_the_data_map_names_may_reveal(field, roles, allowed):
    assert may_reveal("profiles", field, roles) is allowed
