"""multipart/mixed statement bodies, written byte by byte the way clients (and the ADL
conformance suite) write them."""

from __future__ import annotations

import base64
import hashlib
import re
from typing import Any

import orjson
import pytest
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import padding, rsa

from lrs.xapi.attachments import (
    AttachmentPart,
    build_multipart,
    check_attachments,
    parse_multipart,
)
from lrs.xapi.errors import ValidationError
from lrs.xapi.signature import SIGNATURE_USAGE_TYPE

BOUNDARY = "-------314159265358979323846"
CONTENT_TYPE = f"multipart/mixed; boundary={BOUNDARY}"
TEXT1 = b"here is a simple attachment"
TEXT2 = b"here is another simple attachment"
SHA1 = hashlib.sha256(TEXT1).hexdigest()
SHA2 = hashlib.sha256(TEXT2).hexdigest()


def _attachment(sha2: str, **extra: Any) -> dict[str, Any]:
    return {
        "usageType": "http://example.com/attachment-usage/test",
        "display": {"en-US": "A test attachment"},
        "contentType": "text/plain",
        "length": 27,
        "sha2": sha2,
        **extra,
    }


def _statement(*attachments: dict[str, Any]) -> dict[str, Any]:
    statement: dict[str, Any] = {
        "actor": {"mbox": "mailto:xapi@adlnet.gov"},
        "verb": {"id": "http://adlnet.gov/expapi/verbs/attended"},
        "object": {"id": "http://www.example.com/meetings/occurances/34534"},
    }
    if attachments:
        statement["attachments"] = list(attachments)
    return statement


def _part(data: bytes, *headers: str) -> bytes:
    return b"".join(h.encode() + b"\r\n" for h in headers) + b"\r\n" + data


def _attachment_part(data: bytes, sha2: str | None = None, encoding: str = "binary") -> bytes:
    return _part(
        data,
        "Content-Type: text/plain",
        f"Content-Transfer-Encoding: {encoding}",
        f"X-Experience-API-Hash: {sha2 or hashlib.sha256(data).hexdigest()}",
    )


def _json_part(statements: Any) -> bytes:
    return _part(orjson.dumps(statements), "Content-Type: application/json")


def _body(*parts: bytes, boundary: str = BOUNDARY) -> bytes:
    """Each part after `--boundary CRLF`, a CRLF before each later delimiter, then the close."""
    dash = b"--" + boundary.encode()
    return b"".join(dash + b"\r\n" + p + b"\r\n" for p in parts) + dash + b"--\r\n"


def _refused_parse(body: bytes, content_type: str = CONTENT_TYPE) -> ValidationError:
    with pytest.raises(ValidationError) as caught:
        parse_multipart(body, content_type)
    assert caught.value.code == "invalid"
    return caught.value


def _refused_check(statements: list[dict[str, Any]], parts: dict[str, AttachmentPart]) -> str:
    with pytest.raises(ValidationError) as caught:
        check_attachments(statements, parts)
    assert caught.value.code == "invalid"
    return caught.value.field or ""


# --- parse_multipart: accepted ------------------------------------------------------------------


def test_statement_and_attachment_are_split() -> None:
    statement = _statement(_attachment(SHA1))
    json_bytes, parts = parse_multipart(
        _body(_json_part(statement), _attachment_part(TEXT1)), CONTENT_TYPE
    )
    assert orjson.loads(json_bytes) == statement
    assert parts == {SHA1: AttachmentPart(SHA1, "text/plain", TEXT1)}


def test_binary_data_with_line_breaks_and_dashes_survives() -> None:
    data = bytes(range(256)) + b"\r\n--" + BOUNDARY[:-1].encode() + b"\r\n\r\n"
    _, parts = parse_multipart(_body(_json_part([]), _attachment_part(data)), CONTENT_TYPE)
    assert parts[hashlib.sha256(data).hexdigest()].data == data


def test_the_conformance_suites_signed_statement_layout_is_read() -> None:
    # helper.signStatement: a CRLF preamble, no space after the colons, no CRLF at the end.
    sig = b"eyJhbGciOiJSUzI1NiJ9.e30.c2ln"
    sha2 = hashlib.sha256(sig).hexdigest()
    body = (
        f"\r\n--{BOUNDARY}\r\nContent-Type:application/json\r\n\r\n".encode()
        + b"{}"
        + f"\r\n--{BOUNDARY}\r\nContent-Type:application/octet-stream\r\n"
        f"Content-Transfer-Encoding:binary\r\nX-Experience-API-Hash:{sha2}\r\n\r\n".encode()
        + sig
        + f"\r\n--{BOUNDARY}--".encode()
    )
    json_bytes, parts = parse_multipart(body, CONTENT_TYPE)
    assert json_bytes == b"{}"
    assert parts[sha2].data == sig
    assert parts[sha2].content_type == "application/octet-stream"


def test_quoted_boundary_and_parameter_order() -> None:
    boundary = "weird: boundary=with (specials)"
    body = _body(_json_part({}), _attachment_part(TEXT1), boundary=boundary)
    header = f'Multipart/Mixed; charset=utf-8; BOUNDARY="{boundary}"'
    assert set(parse_multipart(body, header)[1]) == {SHA1}


def test_bare_lf_line_breaks_are_tolerated() -> None:
    body = _body(_json_part({}), _attachment_part(TEXT1)).replace(b"\r\n", b"\n")
    json_bytes, parts = parse_multipart(body, CONTENT_TYPE)
    assert json_bytes == b"{}"
    assert parts[SHA1].data == TEXT1


def test_preamble_epilogue_and_transport_padding_are_ignored() -> None:
    body = b"This is a preamble.\r\n" + _body(_json_part({}), _attachment_part(TEXT1))
    body = body.replace(f"--{BOUNDARY}\r\n".encode(), f"--{BOUNDARY}  \r\n".encode(), 1)
    body += b"and an epilogue\r\n"
    assert set(parse_multipart(body, CONTENT_TYPE)[1]) == {SHA1}


def test_missing_transfer_encoding_means_binary() -> None:
    # 1.0.3 Communication 1.5.2: the LRS SHOULD assume binary.
    part = _part(TEXT1, f"X-Experience-API-Hash: {SHA1}")
    _, parts = parse_multipart(_body(_json_part({}), part), CONTENT_TYPE)
    assert parts[SHA1] == AttachmentPart(SHA1, "application/octet-stream", TEXT1)


def test_hash_header_is_case_insensitive_and_keys_are_lower_case() -> None:
    part = _attachment_part(TEXT1, SHA1.upper())
    assert set(parse_multipart(_body(_json_part({}), part), CONTENT_TYPE)[1]) == {SHA1}


@pytest.mark.parametrize("algorithm", ["sha224", "sha384", "sha512"])
def test_other_sha2_digests_are_accepted(algorithm: str) -> None:
    sha2 = hashlib.new(algorithm, TEXT1).hexdigest()
    part = _attachment_part(TEXT1, sha2)
    assert set(parse_multipart(_body(_json_part({}), part), CONTENT_TYPE)[1]) == {sha2}


def test_the_same_data_sent_twice_is_kept_once() -> None:
    body = _body(_json_part([]), _attachment_part(TEXT1), _attachment_part(TEXT1))
    assert list(parse_multipart(body, CONTENT_TYPE)[1]) == [SHA1]


def test_statements_only_is_a_valid_multipart_body() -> None:
    assert parse_multipart(_body(_json_part({})), CONTENT_TYPE) == (b"{}", {})


def test_folded_header_lines_are_unfolded() -> None:
    json_part = _part(b"{}", "Content-Type: application/json;", "  charset=utf-8")
    assert parse_multipart(_body(json_part), CONTENT_TYPE)[0] == b"{}"


# --- parse_multipart: refused -------------------------------------------------------------------


@pytest.mark.parametrize(
    "content_type",
    [
        f"multipart/form-data; boundary={BOUNDARY}",
        "application/json",
        "multipart/mixed",
        "multipart/mixed;",
        'multipart/mixed; boundary=""',
        "multipart/mixed; boundary=" + "x" * 71,
    ],
)
def test_content_type_without_a_usable_boundary_is_refused(content_type: str) -> None:
    body = _body(_json_part({}), _attachment_part(TEXT1))
    assert _refused_parse(body, content_type).field == "Content-Type"


def test_body_without_the_boundary_is_refused() -> None:
    body = _body(_json_part({}), boundary="something-else")
    assert "boundary" in _refused_parse(body).message


def test_truncated_body_without_close_delimiter_is_refused() -> None:
    body = _body(_json_part({}), _attachment_part(TEXT1))
    body = body[: body.rindex(b"--" + BOUNDARY.encode())]
    assert "closing boundary" in _refused_parse(body).message


def test_body_with_no_parts_is_refused() -> None:
    _refused_parse(f"--{BOUNDARY}--\r\n".encode())


def test_first_part_must_be_json() -> None:
    text_part = _part(orjson.dumps({}), "Content-Type: text/plain")
    assert "application/json" in _refused_parse(_body(text_part)).message
    untyped = _part(orjson.dumps({}))
    assert "application/json" in _refused_parse(_body(untyped)).message


def test_statement_before_the_first_boundary_is_not_a_part() -> None:
    # Conformance XAPI-00130: the JSON is preamble, so the first part is the text attachment.
    body = _json_part({}) + b"\r\n" + _body(_attachment_part(TEXT1))
    assert "application/json" in _refused_parse(body).message


def test_statements_split_over_two_json_parts_are_refused() -> None:
    body = _body(_json_part({}), _json_part({}), _attachment_part(TEXT1))
    assert _refused_parse(body).field == "X-Experience-API-Hash"


def test_part_without_hash_header_is_refused() -> None:
    part = _part(TEXT1, "Content-Type: text/plain", "Content-Transfer-Encoding: binary")
    assert _refused_parse(_body(_json_part({}), part)).field == "X-Experience-API-Hash"


def test_hash_mismatch_is_refused() -> None:
    part = _attachment_part(TEXT1, SHA2)
    error = _refused_parse(_body(_json_part({}), part))
    assert error.field == "X-Experience-API-Hash"
    assert "does not hash" in error.message


@pytest.mark.parametrize("declared", ["not-hex", "abc123", "g" * 64])
def test_hash_that_is_no_sha2_digest_is_refused(declared: str) -> None:
    part = _attachment_part(TEXT1, declared)
    assert _refused_parse(_body(_json_part({}), part)).field == "X-Experience-API-Hash"


@pytest.mark.parametrize("encoding", ["base64", "quoted-printable", "7bit"])
def test_transfer_encoding_other_than_binary_is_refused(encoding: str) -> None:
    data = base64.b64encode(TEXT1) if encoding == "base64" else TEXT1
    part = _attachment_part(data, SHA1, encoding)
    assert _refused_parse(_body(_json_part({}), part)).field == "Content-Transfer-Encoding"


def test_malformed_part_headers_are_refused() -> None:
    no_colon = _part(TEXT1, "Content-Type text/plain", f"X-Experience-API-Hash: {SHA1}")
    _refused_parse(_body(_json_part({}), no_colon))
    conflicting = _part(TEXT1, f"X-Experience-API-Hash: {SHA1}", f"X-Experience-API-Hash: {SHA2}")
    _refused_parse(_body(_json_part({}), conflicting))
    no_blank_line = f"Content-Type: text/plain\r\nX-Experience-API-Hash: {SHA1}".encode()
    _refused_parse(_body(_json_part({}), no_blank_line))


# --- check_attachments ------------------------------------------------------------------------


def _parts(*datas: bytes) -> dict[str, AttachmentPart]:
    return {
        hashlib.sha256(d).hexdigest(): AttachmentPart(
            hashlib.sha256(d).hexdigest(), "text/plain", d
        )
        for d in datas
    }


def test_every_attachment_has_its_part() -> None:
    check_attachments([_statement(_attachment(SHA1), _attachment(SHA2))], _parts(TEXT1, TEXT2))


def test_file_url_attachments_need_no_part() -> None:
    statement = _statement(_attachment(SHA1, fileUrl="http://over.there.com/file.txt"))
    check_attachments([statement], {})


def test_file_url_attachment_may_also_send_its_data() -> None:
    # The conformance suite sends both and expects the data back from GET ?attachments=true.
    statement = _statement(_attachment(SHA1, fileUrl="http://over.there.com/file.txt"))
    check_attachments([statement], _parts(TEXT1))


def test_statements_without_attachments_pass() -> None:
    check_attachments([_statement(), _statement()], {})


def test_raw_attachment_sent_as_application_json_is_refused() -> None:
    # The HTTP layer passes {} for application/json bodies.
    assert _refused_check([_statement(_attachment(SHA1))], {}) == "attachments[0]"


def test_missing_part_is_refused() -> None:
    statement = _statement(_attachment(SHA1), _attachment(SHA2))
    assert _refused_check([statement], _parts(TEXT1)) == "attachments[1]"


def test_extra_part_is_refused() -> None:
    statement = _statement(_attachment(SHA1))
    assert _refused_check([statement], _parts(TEXT1, TEXT2)) == "X-Experience-API-Hash"


def test_sha2_matches_whatever_its_case() -> None:
    check_attachments([_statement(_attachment(SHA1.upper()))], _parts(TEXT1))


def test_one_part_may_serve_several_statements() -> None:
    check_attachments([_statement(_attachment(SHA1)), _statement(_attachment(SHA1))], _parts(TEXT1))


def test_batch_errors_name_the_statement() -> None:
    statements = [_statement(_attachment(SHA1)), _statement(_attachment(SHA2))]
    assert _refused_check(statements, _parts(TEXT1)) == "[1].attachments[0]"


def test_sub_statement_attachments_need_parts_too() -> None:
    statement = _statement()
    statement["object"] = {"objectType": "SubStatement", **_statement(_attachment(SHA1))}
    assert _refused_check([statement], {}) == "object.attachments[0]"
    check_attachments([statement], _parts(TEXT1))


def test_malformed_attachment_objects_are_left_to_the_validator() -> None:
    statement = _statement()
    statement["attachments"] = [12345, {"sha2": 999}]
    check_attachments([statement, {"attachments": "not a list"}], {})


def test_signature_attachment_must_be_octet_stream() -> None:
    signature = _attachment(SHA1, usageType=SIGNATURE_USAGE_TYPE, contentType="text/plain")
    assert _refused_check([_statement(signature)], _parts(TEXT1)) == "attachments[0].contentType"


def test_signature_attachment_needs_its_part_even_with_file_url() -> None:
    signature = _attachment(
        SHA1,
        usageType=SIGNATURE_USAGE_TYPE,
        contentType="application/octet-stream",
        fileUrl="http://over.there.com/sig.jws",
    )
    assert _refused_check([_statement(signature)], {}) == "attachments[0]"


def _signed(statement: dict[str, Any], key: rsa.RSAPrivateKey) -> tuple[dict[str, Any], bytes]:
    def b64(raw: bytes) -> bytes:
        return base64.urlsafe_b64encode(raw).rstrip(b"=")

    signing_input = b64(b'{"alg":"RS256"}') + b"." + b64(orjson.dumps(statement))
    jws = signing_input + b"." + b64(key.sign(signing_input, padding.PKCS1v15(), hashes.SHA256()))
    sent = {
        **statement,
        "attachments": [
            _attachment(
                hashlib.sha256(jws).hexdigest(),
                usageType=SIGNATURE_USAGE_TYPE,
                contentType="application/octet-stream",
                length=len(jws),
            )
        ],
    }
    return sent, jws


def test_signed_statements_are_verified_end_to_end() -> None:
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    good, good_jws = _signed(_statement(), key)
    tampered, bad_jws = _signed(_statement(), key)
    tampered["verb"] = {"id": "http://adlnet.gov/expapi/verbs/failed"}

    body = _body(_json_part([good]), _part(good_jws, f"X-Experience-API-Hash: {_sha(good_jws)}"))
    json_bytes, parts = parse_multipart(body, CONTENT_TYPE)
    check_attachments(orjson.loads(json_bytes), parts)

    body = _body(
        _json_part([good, tampered]),
        _part(good_jws, f"X-Experience-API-Hash: {_sha(good_jws)}"),
        _part(bad_jws, f"X-Experience-API-Hash: {_sha(bad_jws)}"),
    )
    json_bytes, parts = parse_multipart(body, CONTENT_TYPE)
    assert _refused_check(orjson.loads(json_bytes), parts) == "[1].attachments[0]"


def _sha(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


# --- build_multipart --------------------------------------------------------------------------


def test_response_round_trips_through_the_request_parser() -> None:
    result = orjson.dumps({"statements": [_statement(_attachment(SHA1), _attachment(SHA2))]})
    parts = [
        AttachmentPart(SHA1, "text/plain", TEXT1),
        AttachmentPart(SHA2, "text/plain", TEXT2),
        AttachmentPart(SHA1, "text/plain", TEXT1),
    ]
    body, content_type = build_multipart(result, parts)
    json_bytes, parsed = parse_multipart(body, content_type)
    assert json_bytes == result
    assert parsed == {p.sha2: p for p in parts}
    assert body.count(SHA1.encode()) == 2  # once in the statement, once as the part's header


def test_response_content_type_is_plain_for_naive_clients() -> None:
    _, content_type = build_multipart(b"{}", [])
    match = re.fullmatch(r"multipart/mixed; boundary=([0-9A-Za-z]+)", content_type)
    assert match is not None


def test_response_layout_is_what_the_spec_shows() -> None:
    body, content_type = build_multipart(b"{}", [AttachmentPart(SHA1, "text/plain", TEXT1)])
    boundary = content_type.split("boundary=")[1]
    assert body == (
        f"--{boundary}\r\nContent-Type: application/json\r\n\r\n{{}}\r\n"
        f"--{boundary}\r\nContent-Type: text/plain\r\nContent-Transfer-Encoding: binary\r\n"
        f"X-Experience-API-Hash: {SHA1}\r\n\r\n".encode()
        + TEXT1
        + f"\r\n--{boundary}--\r\n".encode()
    )


def test_boundary_never_occurs_in_the_content() -> None:
    _, content_type = build_multipart(b"{}", [AttachmentPart(SHA1, "text/plain", b"x")])
    first_choice = content_type.split("boundary=")[1].encode()
    # The same response, but the data now contains the boundary that would have been chosen.
    data = b"before " + first_choice + b" after"
    body, content_type = build_multipart(b"{}", [AttachmentPart(SHA1, "text/plain", data)])
    boundary = content_type.split("boundary=")[1].encode()
    assert boundary != first_choice
    assert boundary not in b"{}" and boundary not in data
    assert body.count(boundary) == 3


def test_unsafe_stored_content_type_is_not_sent_as_a_header() -> None:
    part = AttachmentPart(SHA1, "text/plain\r\nSet-Cookie: x=1", TEXT1)
    body, _ = build_multipart(b"{}", [part])
    assert b"Set-Cookie" not in body
    assert b"Content-Type: application/octet-stream\r\n" in body
