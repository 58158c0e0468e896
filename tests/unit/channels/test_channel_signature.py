"""Meta's webhook signature and handshake token checks."""

import hashlib
import hmac

import pytest
from hypothesis import given
from hypothesis import strategies as st

from habeas.channels.signature import sign, signature_valid, verify_token_valid

pytestmark = pytest.mark.unit
SECRET = "s3cret-for-tests"


def test_the_signature_meta_computes_is_valid():
    body = b'{"object":"whatsapp_business_account","entry":[]}'
    header = "sha256=" + hmac.new(SECRET.encode(), body, hashlib.sha256).hexdigest()
    assert signature_valid(body, header, SECRET)
    assert signature_valid(body, header.upper().replace("SHA256=", "sha256="), SECRET)  # hex case does not matter


@pytest.mark.parametrize("header", [None, "", "sha256=", "sha1=abc", "sha256=zz", sign(b"other", SECRET)])
def test_missing_malformed_or_foreign_signatures_are_invalid(header):
    assert not signature_valid(b"{}", header, SECRET)


def test_an_empty_app_secret_never_validates():
    assert not signature_valid(b"{}", sign(b"{}", ""), "")


@given(st.binary(max_size=512), st.binary(min_size=1, max_size=512))
def test_any_change_to_the_body_breaks_the_signature(body, suffix):
    header = sign(body, SECRET)
    assert signature_valid(body, header, SECRET)
    assert not signature_valid(body + suffix, header, SECRET)


def test_a_non_ascii_header_is_a_mismatch_not_an_error():
    assert not signature_valid(b"{}", "sha256=ñ" * 8, SECRET)


@pytest.mark.parametrize(
    ("offered", "configured", "ok"),
    [("tok", "tok", True), ("tok", "to", False), ("", "", False), (None, "tok", False), ("tok", None, False)],
)
def test_verify_token(offered, configured, ok):
    assert verify_token_valid(offered, configured) is ok
