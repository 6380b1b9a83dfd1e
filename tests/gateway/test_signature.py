import hashlib
import hmac

from gateway.signature import sign, verify_signature
from tests.gateway.conftest import FIXTURES

SECRET = "app-secret"
BODY = (FIXTURES / "inbound_text_cancellami_accents.json").read_bytes()


def test_a_body_signed_with_the_app_secret_is_accepted():
    assert verify_signature(BODY, sign(BODY, SECRET), SECRET)


def test_the_signature_is_meta_s_hmac_sha256_header_value():
    expected = hmac.new(SECRET.encode(), BODY, hashlib.sha256).hexdigest()
    assert sign(BODY, SECRET) == f"sha256={expected}"


def test_upper_case_hex_and_surrounding_spaces_are_accepted():
    header = sign(BODY, SECRET)
    assert verify_signature(BODY, f"  sha256={header[7:].upper()} ", SECRET)


def test_the_raw_bytes_are_hashed_not_re_serialised_json():
    body = '{"text": "perché è già là / @comune"}'.encode()
    escaped = b'{"text": "perch\\u00e9 \\u00e8 gi\\u00e0 l\\u00e0 \\/ @comune"}'
    assert verify_signature(body, sign(body, SECRET), SECRET)
    assert not verify_signature(escaped, sign(body, SECRET), SECRET)


def test_a_changed_body_is_refused():
    assert not verify_signature(BODY + b" ", sign(BODY, SECRET), SECRET)


def test_another_secret_is_refused():
    assert not verify_signature(BODY, sign(BODY, "other"), SECRET)


def test_a_missing_header_is_refused():
    assert not verify_signature(BODY, None, SECRET)
    assert not verify_signature(BODY, "", SECRET)


def test_malformed_headers_are_refused():
    digest = sign(BODY, SECRET)[7:]
    for header in (
        digest,
        f"sha1={digest}",
        f"sha256={digest[:-1]}",
        f"sha256={digest}0",
        "sha256=" + "z" * 64,
        "sha256=" + "é" * 64,
        "sha256=",
    ):
        assert not verify_signature(BODY, header, SECRET), header


def test_an_empty_app_secret_trusts_nothing():
    assert not verify_signature(BODY, sign(BODY, ""), "")
