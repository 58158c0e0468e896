import pytest

from habeas import allowlist
from habeas.errors import Forbidden

pytestmark = pytest.mark.unit

OFFICE = "203.0.113.0/24, 2001:db8::/32"


@pytest.mark.parametrize(
    ("source_ip", "allowed"),
    [
        ("203.0.113.9", True),
        ("::ffff:203.0.113.9", True),  # the same IPv4 caller seen over a dual-stack socket
        ("2001:db8::1", True),
        ("203.0.114.1", False),
        ("2001:db9::1", False),
        ("", False),
        (None, False),
        ("not-an-ip", False),
    ],
)
def test_only_addresses_inside_the_configured_ranges_pass(source_ip, allowed):
    assert allowlist.allows(source_ip, OFFICE) is allowed


def test_the_default_setting_admits_every_address():
    default = "0.0.0.0/0,::/0"
    assert allowlist.allows("198.51.100.7", default) and allowlist.allows("2001:db8::7", default)


def test_a_malformed_setting_fails_closed():
    assert allowlist.allows("203.0.113.9", "203.0.113.0/24,office-vpn") is False


def test_the_source_address_comes_from_the_request_context_never_a_header(monkeypatch):
    monkeypatch.setenv("STAFF_ALLOWED_CIDRS", "203.0.113.0/24")
    from habeas.config import get_settings

    get_settings.cache_clear()
    event = {
        "headers": {"x-forwarded-for": "203.0.113.9", "x-real-ip": "203.0.113.9"},
        "requestContext": {"http": {"sourceIp": "198.51.100.7"}},
    }
    try:
        with pytest.raises(Forbidden):
            allowlist.check(event)
        allowlist.check({**event, "requestContext": {"http": {"sourceIp": "203.0.113.200"}}})
    finally:
        get_settings.cache_clear()
