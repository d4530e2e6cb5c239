"""Signed statements (xAPI 1.0.3 Data 2.6, xAPI 2.0 4.2.6).

A signed statement carries a JWS as an attachment whose payload is the statement as it was
before the signature attachment was added. The LRS must refuse malformed signatures: decode
the JWS, check the payload is logically equivalent to the statement received, check the
signature against the x5c certificate when there is one, and check the algorithm is RS256,
RS384 or RS512. Without x5c there is no key to check against; the spec asks no more, and
says the certificate check catches mistakes rather than proving who signed.
"""

from __future__ import annotations

import base64
import binascii
import re
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

import orjson
from cryptography import x509
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import padding, rsa

from lrs.xapi.errors import ValidationError

if TYPE_CHECKING:
    from collections.abc import Mapping

    from lrs.xapi.attachments import AttachmentPart

SIGNATURE_USAGE_TYPE = "http://adlnet.gov/expapi/attachments/signature"
SIGNATURE_CONTENT_TYPE = "application/octet-stream"
_ALGORITHMS: dict[str, type[hashes.HashAlgorithm]] = {
    "RS256": hashes.SHA256,
    "RS384": hashes.SHA384,
    "RS512": hashes.SHA512,
}
_MIN_RSA_BITS = 2048  # RFC 7518 3.3: smaller keys MUST NOT be used with RSnnn
_B64URL = re.compile(r"[A-Za-z0-9_-]*")


class _Malformed(Exception):
    """A reason the signature is refused; becomes a ValidationError naming the attachment."""


# ---------------------------------------------------------------------------------------------
# JWS decoding


def _b64url(segment: str, what: str) -> bytes:
    """Base64url without padding, strictly: RFC 7515 2 forbids padding and other alphabets."""
    if not _B64URL.fullmatch(segment):
        raise _Malformed(f"the JWS {what} is not base64url")
    try:
        return base64.b64decode(segment + "=" * (-len(segment) % 4), altchars=b"-_", validate=True)
    except (binascii.Error, ValueError) as error:
        raise _Malformed(f"the JWS {what} is not base64url") from error


def _json_object(raw: bytes, what: str) -> dict[str, Any]:
    try:
        value = orjson.loads(raw)
    except orjson.JSONDecodeError as error:
        raise _Malformed(f"the JWS {what} is not valid JSON") from error
    if not isinstance(value, dict):
        raise _Malformed(f"the JWS {what} is not a JSON object")
    return value


class _Signature:
    """One signature over the payload: its merged header, signing input and signature bytes."""

    def __init__(self, header: dict[str, Any], signing_input: bytes, signature: bytes) -> None:
        self.header = header
        self.signing_input = signing_input
        self.signature = signature


def _decode_jws(data: bytes) -> tuple[bytes, list[_Signature]]:
    """The payload and signature(s) of a JWS in compact or JSON serialization.

    Compact is what both spec versions ask for; the JSON serializations are still accepted
    because 1.0.3 only discourages them (SHOULD*), so a 1.0.3 client may send one.
    """
    try:
        text = data.decode("ascii").strip()
    except UnicodeDecodeError as error:
        raise _Malformed("the signature is not a JWS (it is not ASCII text)") from error
    if text.startswith("{"):
        return _decode_json_serialization(text)
    segments = text.split(".")
    if len(segments) != 3:
        raise _Malformed(
            "the signature is not a JWS compact serialization (three dot-separated parts)"
        )
    protected, payload, signature = segments
    header = _json_object(_b64url(protected, "header"), "header")
    return _b64url(payload, "payload"), [
        _Signature(
            header, f"{protected}.{payload}".encode("ascii"), _b64url(signature, "signature")
        )
    ]


def _decode_json_serialization(text: str) -> tuple[bytes, list[_Signature]]:
    document = _json_object(text.encode("ascii"), "JSON serialization")
    payload = document.get("payload")
    if not isinstance(payload, str):
        raise _Malformed("the JWS JSON serialization has no payload string")
    entries = document.get("signatures", [document])  # general, else flattened
    if not isinstance(entries, list) or not entries:
        raise _Malformed("the JWS JSON serialization has no signatures")
    signatures: list[_Signature] = []
    for entry in entries:
        if not isinstance(entry, dict) or not isinstance(entry.get("signature"), str):
            raise _Malformed("a JWS signature entry has no signature string")
        protected = entry.get("protected", "")
        unprotected = entry.get("header", {})
        if not isinstance(protected, str) or not isinstance(unprotected, dict):
            raise _Malformed("a JWS signature entry has a malformed header")
        header = _json_object(_b64url(protected, "header"), "header") if protected else {}
        if set(header) & set(unprotected):
            # RFC 7515 7.2.1: the two headers must not share a name.
            raise _Malformed("a JWS header parameter is both protected and unprotected")
        signatures.append(
            _Signature(
                {**unprotected, **header},
                f"{protected}.{payload}".encode("ascii"),
                _b64url(entry["signature"], "signature"),
            )
        )
    return _b64url(payload, "payload"), signatures


def _certificates(header: dict[str, Any]) -> list[x509.Certificate]:
    chain = header["x5c"]
    if not isinstance(chain, list) or not chain or not all(isinstance(c, str) for c in chain):
        raise _Malformed("the JWS x5c header must be a non-empty array of base64 certificates")
    certificates: list[x509.Certificate] = []
    for der in chain:
        try:
            # RFC 7515 4.1.6: standard base64 (not base64url) of DER.
            certificates.append(
                x509.load_der_x509_certificate(base64.b64decode(der, validate=True))
            )
        except (binascii.Error, ValueError) as error:
            raise _Malformed("a certificate in the JWS x5c header cannot be read") from error
    return certificates


def _check_signature(signature: _Signature) -> None:
    header = signature.header
    algorithm = header.get("alg")
    if algorithm not in _ALGORITHMS:
        raise _Malformed(f"the JWS algorithm must be RS256, RS384 or RS512, not {algorithm!r}")
    if "crit" in header:
        # RFC 7515 4.1.11: extensions we do not understand make the JWS invalid.
        raise _Malformed("the JWS uses critical header extensions this LRS does not support")
    if "x5c" not in header:
        return
    certificates = _certificates(header)
    key = certificates[0].public_key()
    if not isinstance(key, rsa.RSAPublicKey):
        raise _Malformed(f"{algorithm} needs an RSA key but the x5c certificate holds another kind")
    if key.key_size < _MIN_RSA_BITS:
        raise _Malformed(f"the x5c certificate's RSA key is under {_MIN_RSA_BITS} bits")
    try:
        key.verify(
            signature.signature,
            signature.signing_input,
            padding.PKCS1v15(),
            _ALGORITHMS[algorithm](),
        )
    except InvalidSignature as error:
        raise _Malformed("the JWS signature does not verify with the x5c certificate") from error
    # Each certificate must be issued by the next one; whether the last is trusted, and
    # whether they are in date, is for the reader of the statement (the spec leaves it out).
    for certificate, issuer in zip(certificates, certificates[1:], strict=False):
        try:
            certificate.verify_directly_issued_by(issuer)
        except (InvalidSignature, ValueError, TypeError) as error:
            raise _Malformed("the JWS x5c certificates do not form a chain") from error


# ---------------------------------------------------------------------------------------------
# Statement equivalence (Data 2.3.1: what may differ between "the same" statements)


def _instant(value: Any) -> Any:
    """Timestamps compare as points in time to the millisecond: the LRS may re-serialise them
    in UTC and round to 3 decimal places (Data 2.4.7, xAPI 2.0 4.2.7)."""
    if not isinstance(value, str):
        return value
    try:
        parsed = datetime.fromisoformat(value)
    except ValueError:
        return value
    if parsed.tzinfo is None:
        parsed = parsed.replace(tzinfo=UTC)
    parsed = parsed.astimezone(UTC)
    return parsed.replace(microsecond=parsed.microsecond // 1000 * 1000).isoformat()


def _duration(value: Any) -> Any:
    """xAPI 2.0 4.2.7: precision beyond 0.01 s is not part of a duration's comparison."""
    if not isinstance(value, str):
        return value
    return re.sub(r"(\d+)\.(\d{1,2})\d*S", r"\1.\2S", value)


def _agent(value: Any) -> Any:
    """Agent or Group: objectType defaults to Agent, mailbox domains are case-insensitive,
    and a Group's member list is unordered (Data 2.3.1 b5, b7)."""
    if not isinstance(value, dict):
        return value
    agent = dict(value)
    agent.setdefault("objectType", "Agent")
    mbox = agent.get("mbox")
    if isinstance(mbox, str) and "@" in mbox:
        local, _, domain = mbox.rpartition("@")
        agent["mbox"] = f"{local}@{domain.lower()}"
    members = agent.get("member")
    if isinstance(members, list):
        agent["member"] = sorted(
            (_agent(m) for m in members),
            key=lambda m: orjson.dumps(m, option=orjson.OPT_SORT_KEYS),
        )
    return agent


def _activity(value: Any) -> Any:
    """The definition is not part of the statement (Data 2.3.1 b2): the LRS may replace it
    with its canonical one."""
    if not isinstance(value, dict):
        return value
    activity = {k: v for k, v in value.items() if k != "definition"}
    activity.setdefault("objectType", "Activity")
    return activity


def _lower(value: Any) -> Any:
    return value.lower() if isinstance(value, str) else value


def _object(value: Any) -> Any:
    if not isinstance(value, dict):
        return value
    kind = value.get("objectType", "Activity")
    if kind == "Activity":
        return _activity(value)
    if kind in ("Agent", "Group"):
        return _agent(value)
    if kind == "StatementRef":
        return {**value, "id": _lower(value.get("id"))}
    if kind == "SubStatement":
        sub = _core(value)
        if "timestamp" in sub:
            sub["timestamp"] = _instant(sub["timestamp"])
        return sub
    return value


def _context(value: Any) -> Any:
    if not isinstance(value, dict):
        return value
    context = dict(value)
    if "registration" in context:
        context["registration"] = _lower(context["registration"])
    for role in ("instructor", "team"):
        if role in context:
            context[role] = _agent(context[role])
    statement = context.get("statement")
    if isinstance(statement, dict):
        context["statement"] = {**statement, "id": _lower(statement.get("id"))}
    activities = context.get("contextActivities")
    if isinstance(activities, dict):
        # 1.0.3 allows one Activity where an array is meant; the LRS stores an array.
        context["contextActivities"] = {
            kind: [_activity(a) for a in (listed if isinstance(listed, list) else [listed])]
            for kind, listed in activities.items()
        }
    for key, inner in (("contextAgents", "agent"), ("contextGroups", "group")):
        entries = context.get(key)
        if isinstance(entries, list):
            context[key] = [
                {**e, inner: _agent(e.get(inner))} if isinstance(e, dict) and inner in e else e
                for e in entries
            ]
    return context


def _core(statement: dict[str, Any]) -> dict[str, Any]:
    """The statement with what the LRS may rewrite dropped and the rest in canonical form."""
    core = {k: v for k, v in statement.items() if k not in ("stored", "authority")}
    if "actor" in core:
        core["actor"] = _agent(core["actor"])
    verb = core.get("verb")
    if isinstance(verb, dict):
        # The verb's display is not part of the statement (Data 2.3.1 b3).
        core["verb"] = {k: v for k, v in verb.items() if k != "display"}
    if "object" in core:
        core["object"] = _object(core["object"])
    if "context" in core:
        core["context"] = _context(core["context"])
    result = core.get("result")
    if isinstance(result, dict) and "duration" in result:
        core["result"] = {**result, "duration": _duration(result["duration"])}
    attachments = core.get("attachments")
    if isinstance(attachments, list):
        # The payload is the statement "before the signature was added".
        kept = [
            a
            for a in attachments
            if not (isinstance(a, dict) and a.get("usageType") == SIGNATURE_USAGE_TYPE)
        ]
        if kept:
            core["attachments"] = kept
        else:
            del core["attachments"]
    return core


def _difference(a: Any, b: Any, path: str) -> str | None:
    """The path of the first difference, or None. Unlike ==, true is not 1 and 1 is 1.0."""
    if isinstance(a, bool) or isinstance(b, bool):
        return None if type(a) is type(b) and a == b else path
    if isinstance(a, int | float) and isinstance(b, int | float):
        return None if a == b else path
    if isinstance(a, dict) and isinstance(b, dict):
        for key in sorted(set(a) | set(b)):
            if key not in a or key not in b:
                return f"{path}.{key}" if path else key
            found = _difference(a[key], b[key], f"{path}.{key}" if path else key)
            if found:
                return found
        return None
    if isinstance(a, list) and isinstance(b, list):
        if len(a) != len(b):
            return path
        for index, (x, y) in enumerate(zip(a, b, strict=True)):
            found = _difference(x, y, f"{path}[{index}]")
            if found:
                return found
        return None
    return None if type(a) is type(b) and a == b else path


def _statement_difference(signed: dict[str, Any], received: dict[str, Any]) -> str | None:
    a, b = _core(signed), _core(received)
    # id, timestamp and version may be assigned by the LRS: a side lacking one says nothing.
    for key in ("id", "timestamp", "version"):
        if key not in a or key not in b:
            a.pop(key, None)
            b.pop(key, None)
    if "id" in a:
        a["id"], b["id"] = _lower(a["id"]), _lower(b["id"])
    if "timestamp" in a:
        a["timestamp"], b["timestamp"] = _instant(a["timestamp"]), _instant(b["timestamp"])
    return _difference(a, b, "")


# ---------------------------------------------------------------------------------------------


def _verify_one(statement: dict[str, Any], data: bytes) -> None:
    payload, signatures = _decode_jws(data)
    for signature in signatures:
        _check_signature(signature)
    signed = _json_object(payload, "payload")
    difference = _statement_difference(signed, statement)
    if difference is not None:
        raise _Malformed(
            f"the signed statement (JWS payload) differs from the statement sent at {difference!r}"
        )


def verify_signed_statement(statement: dict[str, Any], parts: Mapping[str, AttachmentPart]) -> None:
    """Refuse (400) a statement whose signature attachment is malformed; no-op when unsigned.

    `parts` is keyed by lower-case sha2, as `parse_multipart` returns them. Pass the statement
    as the client sent it; what the LRS adds later (stored, authority, id, version, timestamp)
    would be ignored anyway. The error's field is `attachments[i]` of the signature.
    """
    attachments = statement.get("attachments")
    if not isinstance(attachments, list):
        return
    for index, attachment in enumerate(attachments):
        if not isinstance(attachment, dict) or attachment.get("usageType") != SIGNATURE_USAGE_TYPE:
            continue
        field = f"attachments[{index}]"
        content_type = str(attachment.get("contentType", "")).split(";", 1)[0].strip().lower()
        if content_type != SIGNATURE_CONTENT_TYPE:
            raise ValidationError(
                f"a signature attachment must have contentType {SIGNATURE_CONTENT_TYPE}",
                f"{field}.contentType",
            )
        sha2 = attachment.get("sha2")
        part = parts.get(sha2.lower()) if isinstance(sha2, str) else None
        if part is None:
            raise ValidationError(
                "a signature attachment must be sent with its JWS as a multipart part", field
            )
        try:
            _verify_one(statement, part.data)
        except _Malformed as error:
            raise ValidationError(f"malformed signature: {error}", field) from None
