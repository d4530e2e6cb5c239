"""Signed statements: real RSA keys, real certificates, JWS built by hand as a client would."""

from __future__ import annotations

import base64
import copy
import datetime as dt
import hashlib
import hmac
from typing import Any

import orjson
import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, padding, rsa
from cryptography.x509.oid import NameOID

from lrs.xapi.attachments import AttachmentPart
from lrs.xapi.errors import ValidationError
from lrs.xapi.signature import SIGNATURE_USAGE_TYPE, verify_signed_statement

HASHES = {"RS256": hashes.SHA256, "RS384": hashes.SHA384, "RS512": hashes.SHA512}


def _name(common_name: str) -> x509.Name:
    return x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, common_name)])


def _certificate(
    subject_key: Any, subject: str, issuer_key: Any = None, issuer: str | None = None
) -> x509.Certificate:
    now = dt.datetime.now(dt.UTC)
    return (
        x509.CertificateBuilder()
        .subject_name(_name(subject))
        .issuer_name(_name(issuer or subject))
        .public_key(subject_key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(days=1))
        .not_valid_after(now + dt.timedelta(days=30))
        .sign(issuer_key or subject_key, hashes.SHA256())
    )


def _x5c(*certificates: x509.Certificate) -> list[str]:
    return [
        base64.b64encode(c.public_bytes(serialization.Encoding.DER)).decode() for c in certificates
    ]


@pytest.fixture(scope="module")
def key() -> rsa.RSAPrivateKey:
    return rsa.generate_private_key(public_exponent=65537, key_size=2048)


@pytest.fixture(scope="module")
def certificate(key: rsa.RSAPrivateKey) -> x509.Certificate:
    return _certificate(key, "Test Signer")


def _b64url(raw: bytes) -> str:
    return base64.urlsafe_b64encode(raw).rstrip(b"=").decode()


def _jws(
    payload: Any,
    key: rsa.RSAPrivateKey,
    *,
    alg: str = "RS256",
    x5c: Any = None,  # anything, so that malformed x5c headers can be sent
    extra_header: dict[str, Any] | None = None,
) -> bytes:
    """A JWS compact serialization; payload bytes are used as they are, anything else as JSON."""
    header: dict[str, Any] = {"alg": alg, **(extra_header or {})}
    if x5c is not None:
        header["x5c"] = x5c
    raw_payload = payload if isinstance(payload, bytes) else orjson.dumps(payload)
    signing_input = f"{_b64url(orjson.dumps(header))}.{_b64url(raw_payload)}".encode()
    if alg in HASHES:
        signature = key.sign(signing_input, padding.PKCS1v15(), HASHES[alg]())
    elif alg == "HS256":
        signature = hmac.new(b"secret", signing_input, hashlib.sha256).digest()
    else:
        signature = b""
    return signing_input + b"." + _b64url(signature).encode()


def _statement() -> dict[str, Any]:
    return {
        "id": "5b1bd4c8-3a5e-4d71-9d39-0f4b6fdbd1a2",
        "actor": {"objectType": "Agent", "name": "xAPI mbox", "mbox": "mailto:xapi@adlnet.gov"},
        "verb": {
            "id": "http://adlnet.gov/expapi/verbs/attended",
            "display": {"en-GB": "attended", "en-US": "attended"},
        },
        "object": {
            "objectType": "Activity",
            "id": "http://www.example.com/meetings/occurances/34534",
        },
        "timestamp": "2024-05-01T10:00:00.000Z",
    }


def _signed(
    statement: dict[str, Any], jws: bytes, content_type: str = "application/octet-stream"
) -> tuple[dict[str, Any], dict[str, AttachmentPart]]:
    """The statement as sent: the signature attachment appended after signing."""
    sha2 = hashlib.sha256(jws).hexdigest()
    sent = copy.deepcopy(statement)
    sent.setdefault("attachments", []).append(
        {
            "usageType": SIGNATURE_USAGE_TYPE,
            "display": {"en-US": "Signature"},
            "contentType": content_type,
            "length": len(jws),
            "sha2": sha2,
        }
    )
    return sent, {sha2: AttachmentPart(sha2, "application/octet-stream", jws)}


def _refused(statement: dict[str, Any], parts: dict[str, AttachmentPart]) -> ValidationError:
    with pytest.raises(ValidationError) as caught:
        verify_signed_statement(statement, parts)
    return caught.value


# --- accepted ---------------------------------------------------------------------------------


@pytest.mark.parametrize("alg", ["RS256", "RS384", "RS512"])
def test_signature_with_x5c_verifies(
    alg: str, key: rsa.RSAPrivateKey, certificate: x509.Certificate
) -> None:
    statement = _statement()
    verify_signed_statement(
        *_signed(statement, _jws(statement, key, alg=alg, x5c=_x5c(certificate)))
    )


def test_signature_without_x5c_is_checked_for_payload_only(key: rsa.RSAPrivateKey) -> None:
    # What the conformance suite sends: no certificate, so no key to verify with.
    statement = _statement()
    verify_signed_statement(*_signed(statement, _jws(statement, key)))


def test_unsigned_statement_is_left_alone() -> None:
    verify_signed_statement(_statement(), {})


def test_certificate_chain_is_accepted_when_each_certificate_issues_the_previous(
    key: rsa.RSAPrivateKey,
) -> None:
    ca_key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    ca = _certificate(ca_key, "Test CA")
    leaf = _certificate(key, "Test Signer", ca_key, "Test CA")
    statement = _statement()
    verify_signed_statement(*_signed(statement, _jws(statement, key, x5c=_x5c(leaf, ca))))


def test_jws_json_serialization_is_accepted(
    key: rsa.RSAPrivateKey, certificate: x509.Certificate
) -> None:
    # 1.0.3 only discourages the JSON serialization; a flattened one must still verify.
    statement = _statement()
    protected, payload, signature = _jws(statement, key, x5c=_x5c(certificate)).split(b".")
    flattened = orjson.dumps(
        {
            "protected": protected.decode(),
            "payload": payload.decode(),
            "signature": signature.decode(),
        }
    )
    verify_signed_statement(*_signed(statement, flattened))


def test_what_the_lrs_may_set_or_reserialise_is_ignored(key: rsa.RSAPrivateKey) -> None:
    signed = _statement()
    del signed["id"]
    sent = _statement()
    sent["id"] = sent["id"].upper()
    sent["authority"] = {"objectType": "Agent", "mbox": "mailto:lrs@example.com"}
    sent["stored"] = "2024-05-01T10:00:01.000Z"
    sent["version"] = "1.0.0"
    sent["timestamp"] = "2024-05-01T12:00:00+02:00"  # the same instant
    sent["verb"]["display"] = {"en-US": "went to"}  # Data 2.3.1: display is not part of it
    sent["object"]["definition"] = {"name": {"en-US": "Meeting"}}  # nor the definition
    statement, parts = _signed(sent, _jws(signed, key))
    verify_signed_statement(statement, parts)


def test_group_members_compare_in_any_order(key: rsa.RSAPrivateKey) -> None:
    signed = _statement()
    signed["actor"] = {
        "objectType": "Group",
        "member": [{"mbox": "mailto:a@example.com"}, {"mbox": "mailto:b@example.com"}],
    }
    sent = copy.deepcopy(signed)
    sent["actor"]["member"].reverse()
    verify_signed_statement(*_signed(sent, _jws(signed, key)))


def test_other_attachments_are_part_of_the_signed_statement(key: rsa.RSAPrivateKey) -> None:
    statement = _statement()
    statement["attachments"] = [
        {
            "usageType": "http://example.com/attachment-usage/test",
            "display": {"en-US": "A test attachment"},
            "contentType": "text/plain",
            "length": 27,
            "sha2": "495395e777cd98da653df9615d09c0fd6bb2f8d4788394cd53c56a3bfdcd848a",
            "fileUrl": "http://over.there.com/file.txt",
        }
    ]
    sent, parts = _signed(statement, _jws(statement, key))
    assert len(sent["attachments"]) == 2
    verify_signed_statement(sent, parts)

    altered = copy.deepcopy(sent)
    altered["attachments"][0]["fileUrl"] = "http://elsewhere.example.com/file.txt"
    assert _refused(altered, parts).field == "attachments[1]"


# --- refused ----------------------------------------------------------------------------------


def test_statement_changed_after_signing_is_refused(
    key: rsa.RSAPrivateKey, certificate: x509.Certificate
) -> None:
    statement = _statement()
    sent, parts = _signed(statement, _jws(statement, key, x5c=_x5c(certificate)))
    sent["object"]["id"] = "http://www.example.com/meetings/occurances/99999"
    error = _refused(sent, parts)
    assert error.field == "attachments[0]"
    assert error.code == "invalid"
    assert "object.id" in error.message


def test_different_timestamp_is_refused(key: rsa.RSAPrivateKey) -> None:
    statement = _statement()
    sent, parts = _signed(statement, _jws(statement, key))
    sent["timestamp"] = "2024-05-01T10:00:01.000Z"
    assert "timestamp" in _refused(sent, parts).message


def test_true_is_not_one(key: rsa.RSAPrivateKey) -> None:
    signed = _statement()
    signed["result"] = {"extensions": {"http://example.com/ext": True}}
    sent = copy.deepcopy(signed)
    sent["result"]["extensions"]["http://example.com/ext"] = 1
    assert _refused(*_signed(sent, _jws(signed, key))).field == "attachments[0]"


def test_payload_altered_after_signing_fails_the_certificate_check(
    key: rsa.RSAPrivateKey, certificate: x509.Certificate
) -> None:
    statement = _statement()
    header, _, signature = _jws(statement, key, x5c=_x5c(certificate)).split(b".")
    forged = copy.deepcopy(statement)
    forged["object"]["id"] = "http://evil.example.com/"
    jws = b".".join([header, _b64url(orjson.dumps(forged)).encode(), signature])
    error = _refused(*_signed(forged, jws))
    assert "does not verify" in error.message


def test_signature_by_another_key_than_the_certificate_is_refused(
    certificate: x509.Certificate,
) -> None:
    other = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    statement = _statement()
    error = _refused(*_signed(statement, _jws(statement, other, x5c=_x5c(certificate))))
    assert "does not verify" in error.message


@pytest.mark.parametrize("alg", ["HS256", "none", "ES256", "PS256"])
def test_algorithm_other_than_rs256_384_512_is_refused(alg: str, key: rsa.RSAPrivateKey) -> None:
    statement = _statement()
    error = _refused(*_signed(statement, _jws(statement, key, alg=alg)))
    assert error.field == "attachments[0]"
    assert "RS256, RS384 or RS512" in error.message


def test_payload_that_is_not_json_is_refused(key: rsa.RSAPrivateKey) -> None:
    # The conformance suite's "breakJson": the first double quote replaced by a single one.
    statement = _statement()
    broken = orjson.dumps(statement).replace(b'"', b"'", 1)
    assert "not valid JSON" in _refused(*_signed(statement, _jws(broken, key))).message


def test_payload_that_is_not_an_object_is_refused(key: rsa.RSAPrivateKey) -> None:
    statement = _statement()
    assert "JSON object" in _refused(*_signed(statement, _jws([statement], key))).message


@pytest.mark.parametrize(
    "jws",
    [b"not a jws", b"a.b", b"a.b.c.d", b"e30.e30.***", "caf\u00e9.x.y".encode(), b"e30=.e30.AA"],
)
def test_malformed_jws_is_refused(jws: bytes) -> None:
    assert _refused(*_signed(_statement(), jws)).field == "attachments[0]"


def test_signature_attachment_must_be_octet_stream(key: rsa.RSAPrivateKey) -> None:
    statement = _statement()
    error = _refused(*_signed(statement, _jws(statement, key), "text/plain; charset=ascii"))
    assert error.field == "attachments[0].contentType"


def test_signature_attachment_without_its_part_is_refused(key: rsa.RSAPrivateKey) -> None:
    statement = _statement()
    sent, _ = _signed(statement, _jws(statement, key))
    assert _refused(sent, {}).field == "attachments[0]"


def test_field_names_the_signature_attachment_index(key: rsa.RSAPrivateKey) -> None:
    statement = _statement()
    statement["attachments"] = [
        {
            "usageType": "http://example.com/attachment-usage/test",
            "display": {"en-US": "A test attachment"},
            "contentType": "text/plain",
            "length": 1,
            "sha2": "0" * 64,
            "fileUrl": "http://over.there.com/file.txt",
        }
    ]
    sent, parts = _signed(statement, _jws(statement, key, alg="HS256"))
    assert _refused(sent, parts).field == "attachments[1]"


def test_garbage_x5c_is_refused(key: rsa.RSAPrivateKey) -> None:
    statement = _statement()
    for x5c in (["not base64!"], [base64.b64encode(b"not a certificate").decode()], [], "x"):
        error = _refused(*_signed(statement, _jws(statement, key, x5c=x5c)))
        assert "x5c" in error.message


def test_x5c_certificate_without_an_rsa_key_is_refused(key: rsa.RSAPrivateKey) -> None:
    ec_key = ec.generate_private_key(ec.SECP256R1())
    statement = _statement()
    jws = _jws(statement, key, x5c=_x5c(_certificate(ec_key, "EC signer")))
    assert "RSA" in _refused(*_signed(statement, jws)).message


def test_rsa_key_under_2048_bits_is_refused() -> None:
    small = rsa.generate_private_key(public_exponent=65537, key_size=1024)
    statement = _statement()
    jws = _jws(statement, small, x5c=_x5c(_certificate(small, "Small")))
    assert "2048" in _refused(*_signed(statement, jws)).message


def test_broken_certificate_chain_is_refused(
    key: rsa.RSAPrivateKey, certificate: x509.Certificate
) -> None:
    stranger = _certificate(rsa.generate_private_key(public_exponent=65537, key_size=2048), "CA")
    statement = _statement()
    jws = _jws(statement, key, x5c=_x5c(certificate, stranger))
    assert "chain" in _refused(*_signed(statement, jws)).message


def test_critical_header_extensions_are_refused(key: rsa.RSAPrivateKey) -> None:
    statement = _statement()
    jws = _jws(statement, key, extra_header={"crit": ["b64"], "b64": False})
    assert "critical" in _refused(*_signed(statement, jws)).message


def test_duration_compares_to_the_hundredth_of_a_second(key: rsa.RSAPrivateKey) -> None:
    # xAPI 2.0 4.2.7, as the 2.0 conformance suite checks it: 0.1237S was signed as 0.12S.
    signed = _statement()
    signed["result"] = {"duration": "P1DT12H36M0.12S"}
    sent = copy.deepcopy(signed)
    sent["result"]["duration"] = "P1DT12H36M0.1237S"
    verify_signed_statement(*_signed(sent, _jws(signed, key)))

    sent["result"]["duration"] = "P1DT12H36M0.13S"
    assert "result.duration" in _refused(*_signed(sent, _jws(signed, key))).message
