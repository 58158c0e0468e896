import pytest

from habeas.errors import Unprocessable
from habeas.identifiers import Identifier, blind_index, normalise, normalise_phone

pytestmark = pytest.mark.unit
KEY = b"k" * 32


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        (" Ana.Souza@Example.COM ", Identifier("email", "ana.souza@example.com")),
        ("+55 11 98765-4321", Identifier("phone", "+5511987654321")),
        ("+34 612 34 56 78", Identifier("phone", "+34612345678")),
        ("+1 (415) 555-2671", Identifier("phone", "+14155552671")),
    ],
)
def test_identifiers_are_normalised(raw, expected):
    assert normalise(raw) == expected


@pytest.mark.parametrize(
    "raw", ["", "ana@", "@example.com", "ana@example", "11987654321", "+999", "+55 11 1234", "a b@c.d"]
)
def test_malformed_identifiers_are_unprocessable(raw):
    with pytest.raises(Unprocessable):
        normalise(raw)


def test_whatsapp_sender_id_is_the_same_identifier_as_its_e164_phone():
    assert normalise_phone("5511987654321") == normalise("+5511987654321")


def test_blind_index_is_keyed_deterministic_and_hides_the_identifier():
    email = normalise("ana@example.com")
    index = blind_index(email, KEY)
    assert index == blind_index(normalise("ANA@example.com "), KEY)
    assert index != blind_index(email, b"another key of the same length!!")
    assert "ana" not in index and len(index) == 64


def test_identifier_repr_does_not_print_the_value():
    assert "example" not in repr(normalise("ana@example.com"))
