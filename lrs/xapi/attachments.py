"""Statement attachments carried in `multipart/mixed` bodies (xAPI 1.0.3 Communication 1.5.2,
Data 2.4.11; xAPI 2.0 4.1.3 and 4.2.2.6).

A client sends the statement(s) as the first part and each attachment's raw data as a later
part named by the SHA-2 hash that the statement's attachment object also carries. The LRS
answers `GET /statements?attachments=true` in the same shape. Everything here is a pure
function of bytes and parsed JSON: the HTTP layer reads the body, stores what comes back.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any, Protocol

from lrs.xapi.errors import ValidationError
from lrs.xapi.signature import SIGNATURE_CONTENT_TYPE, SIGNATURE_USAGE_TYPE, verify_signed_statement

HASH_HEADER = "X-Experience-API-Hash"

# xAPI says "SHA-2": the hex length is the only thing that tells which one the client used.
_HASHES_BY_HEX_LENGTH: dict[int, Callable[[bytes], Any]] = {
    56: hashlib.sha224,
    64: hashlib.sha256,
    96: hashlib.sha384,
    128: hashlib.sha512,
}
_HEX = re.compile(r"[0-9a-fA-F]+")
# RFC 2045 token characters; a boundary made of them needs no quoting and survives naive
# client parsers (the conformance suite splits on `boundary=` and on a regex of the boundary).
_TOKEN = re.compile(r"[!#$%&'*+.^_`|~0-9A-Za-z-]+")
_CONTROL = re.compile(r"[\x00-\x1f\x7f]")


@dataclass(frozen=True)
class AttachmentPart:
    """One attachment's raw data, as received or as to be returned.

    `sha2` is lower-case hex so that lookups do not depend on the case the client used.
    """

    sha2: str
    content_type: str
    data: bytes


class PartLike(Protocol):
    """Anything shaped like an AttachmentPart (the storage layer has its own dataclass)."""

    @property
    def sha2(self) -> str: ...

    @property
    def content_type(self) -> str: ...

    @property
    def data(self) -> bytes: ...


# ---------------------------------------------------------------------------------------------
# Header parsing


def _media_type(value: str) -> str:
    """`type/subtype` lower-cased, parameters dropped: media types compare case-insensitively."""
    return value.split(";", 1)[0].strip().lower()


def _split_params(value: str) -> list[str]:
    """Split a header value on `;` outside quoted strings (a quoted boundary may hold `;`)."""
    pieces: list[str] = []
    current: list[str] = []
    quoted = False
    escaped = False
    for char in value:
        if escaped:
            current.append(char)
            escaped = False
        elif quoted and char == "\\":
            current.append(char)
            escaped = True
        elif char == '"':
            current.append(char)
            quoted = not quoted
        elif char == ";" and not quoted:
            pieces.append("".join(current))
            current = []
        else:
            current.append(char)
    pieces.append("".join(current))
    return pieces


def _unquote(value: str) -> str:
    if len(value) >= 2 and value[0] == value[-1] == '"':
        return re.sub(r"\\(.)", r"\1", value[1:-1])
    return value


def _boundary(content_type_header: str) -> str:
    """The boundary parameter of a `multipart/mixed` Content-Type, or why there is none."""
    pieces = _split_params(content_type_header)
    if _media_type(pieces[0]) != "multipart/mixed":
        raise ValidationError(
            f"statements with attachment data must be sent as multipart/mixed, not {pieces[0]!r}",
            "Content-Type",
        )
    for piece in pieces[1:]:
        name, sep, value = piece.partition("=")
        if sep and name.strip().lower() == "boundary":
            boundary = _unquote(value.strip())
            # RFC 2046 5.1.1: 1 to 70 characters, and none may be a line break.
            if not boundary or len(boundary) > 70 or _CONTROL.search(boundary):
                raise ValidationError(
                    "the multipart boundary must be 1 to 70 printable characters", "Content-Type"
                )
            return boundary
    raise ValidationError("multipart/mixed requires a boundary parameter", "Content-Type")


def _part_headers(raw: bytes, index: int) -> dict[str, str]:
    """RFC 822-style headers of one part, names lower-cased, folded lines unfolded."""
    headers: dict[str, str] = {}
    text = raw.decode("latin-1")  # header bytes are ASCII; latin-1 never fails and round-trips
    lines: list[str] = []
    for line in re.split(r"\r?\n", text):
        if line[:1] in (" ", "\t") and lines:
            lines[-1] += " " + line.strip()
        else:
            lines.append(line)
    for line in lines:
        name, sep, value = line.partition(":")
        name = name.strip().lower()
        if not sep or not name or not _TOKEN.fullmatch(name):
            raise ValidationError(f"part {index} has a malformed header line {line!r}", "multipart")
        value = value.strip()
        if name in headers and headers[name] != value:
            raise ValidationError(f"part {index} repeats the {name} header", "multipart")
        headers[name] = value
    return headers


# ---------------------------------------------------------------------------------------------
# Request bodies


def _split_parts(body: bytes, boundary: str) -> list[bytes]:
    """The parts between delimiter lines, per RFC 2046 5.1.1.

    A delimiter is `--boundary` at the start of a line, optionally followed by `--` (the close
    delimiter) and transport padding. The line break before it belongs to the delimiter, not to
    the preceding part. Bare LF line breaks are tolerated since some clients write them.
    Preamble and epilogue are ignored, as the RFC says; a body without a close delimiter was
    truncated and is refused rather than guessed at.
    """
    delimiter = re.compile(
        rb"(?:\A|\r?\n)--" + re.escape(boundary.encode("latin-1")) + rb"(--)?[ \t]*(?:\r?\n|\Z)"
    )
    parts: list[bytes] = []
    start: int | None = None
    for match in delimiter.finditer(body):
        if start is not None:
            parts.append(body[start : match.start()])
        if match.group(1):
            return parts
        start = match.end()
    if start is None:
        raise ValidationError(
            "the body contains no line with the boundary named in Content-Type", "multipart"
        )
    raise ValidationError(
        "the multipart body has no closing boundary (--boundary--); it may be truncated",
        "multipart",
    )


def _split_head(part: bytes, index: int) -> tuple[dict[str, str], bytes]:
    if part.startswith(b"\r\n"):
        return {}, part[2:]
    if part.startswith(b"\n"):
        return {}, part[1:]
    ends = [(i, n) for i, n in ((part.find(b"\r\n\r\n"), 4), (part.find(b"\n\n"), 2)) if i >= 0]
    if not ends:
        raise ValidationError(
            f"part {index} has no blank line between its headers and its content", "multipart"
        )
    at, length = min(ends)
    return _part_headers(part[:at], index), part[at + length :]


def _hash_function(sha2: str) -> Callable[[bytes], Any] | None:
    if not _HEX.fullmatch(sha2):
        return None
    return _HASHES_BY_HEX_LENGTH.get(len(sha2))


def parse_multipart(
    body: bytes, content_type_header: str
) -> tuple[bytes, dict[str, AttachmentPart]]:
    """Split a `multipart/mixed` statement request into its JSON and its attachment parts.

    Returns the first part's bytes (the statement or array of statements, not yet parsed) and
    the later parts keyed by lower-case sha2. Refuses (400) what the spec says an LRS must:
    no boundary, a first part that is not application/json, a later part without
    X-Experience-API-Hash or whose data does not hash to it, and a Content-Transfer-Encoding
    other than binary. A missing Content-Transfer-Encoding is read as binary, which the spec
    tells the LRS to assume (1.0.3 Communication 1.5.2). Whether every part belongs to an
    attachment is for `check_attachments`, once the JSON is parsed.
    """
    boundary = _boundary(content_type_header)
    raw_parts = _split_parts(body, boundary)
    if not raw_parts:
        raise ValidationError("the multipart body has no parts", "multipart")

    headers, statements = _split_head(raw_parts[0], 0)
    first_type = headers.get("content-type", "text/plain")  # RFC 2046 default
    if _media_type(first_type) != "application/json":
        raise ValidationError(
            "the first part must be the statements, with Content-Type application/json",
            "multipart",
        )

    parts: dict[str, AttachmentPart] = {}
    for index, raw in enumerate(raw_parts[1:], start=1):
        headers, data = _split_head(raw, index)
        declared = headers.get(HASH_HEADER.lower())
        if not declared:
            raise ValidationError(f"part {index} has no {HASH_HEADER} header", HASH_HEADER)
        sha2 = declared.lower()
        hash_function = _hash_function(sha2)
        if hash_function is None:
            raise ValidationError(
                f"part {index}: {declared!r} is not a hex SHA-224/256/384/512 digest", HASH_HEADER
            )
        encoding = headers.get("content-transfer-encoding")
        if encoding is not None and encoding.lower() != "binary":
            raise ValidationError(
                f"part {index} has Content-Transfer-Encoding {encoding!r}; only binary is allowed",
                "Content-Transfer-Encoding",
            )
        if hash_function(data).hexdigest() != sha2:
            raise ValidationError(
                f"part {index}: the data does not hash to its {HASH_HEADER} {declared}",
                HASH_HEADER,
            )
        # Same hash means same bytes: a second copy is redundant, not an error.
        parts.setdefault(
            sha2,
            AttachmentPart(
                sha2=sha2,
                content_type=headers.get("content-type") or "application/octet-stream",
                data=data,
            ),
        )
    return statements, parts


# ---------------------------------------------------------------------------------------------
# Matching parts to attachment objects


def _attachment_lists(statement: dict[str, Any]) -> list[tuple[str, list[Any]]]:
    """The statement's attachment arrays with their field paths; a SubStatement may have one."""
    found: list[tuple[str, list[Any]]] = []
    if isinstance(statement.get("attachments"), list):
        found.append(("attachments", statement["attachments"]))
    sub = statement.get("object")
    if (
        isinstance(sub, dict)
        and sub.get("objectType") == "SubStatement"
        and isinstance(sub.get("attachments"), list)
    ):
        found.append(("object.attachments", sub["attachments"]))
    return found


def _prefixed(error: ValidationError, prefix: str) -> ValidationError:
    field = f"{prefix}.{error.field}" if error.field else prefix
    return ValidationError(error.message, field, code=error.code)


def check_attachments(statements: list[Any], parts: dict[str, AttachmentPart]) -> None:
    """Match a request's attachment objects with the data parts it carried; verify signatures.

    Call it for every statement POST/PUT, with `parts={}` when the body was application/json:
    an attachment without `fileUrl` then has no data and the request is refused, which is how
    "raw attachments need multipart/mixed" is enforced. Rules (Communication 1.5.2, Data 2.6):

    * an attachment without `fileUrl` needs a part with its sha2;
    * a signature attachment needs `contentType` application/octet-stream and a part even
      when it has a fileUrl, and the JWS in that part must verify (`verify_signed_statement`);
    * every part must be named by some attachment (one with a fileUrl may also send data);
    * attachment `length` is not compared with the data: the spec does not ask it, and the
      conformance suite sends lengths that differ.

    Field names are `attachments[j]...` for a one-statement list and `[i].attachments[j]...`
    for a longer batch, as the statement validator names them. Attachment objects are assumed
    to have passed the statement validator; malformed ones are skipped, not reported twice.
    """
    used: set[str] = set()
    batch = len(statements) > 1
    for i, statement in enumerate(statements):
        if not isinstance(statement, dict):
            continue
        prefix = f"[{i}]." if batch else ""
        for path, attachments in _attachment_lists(statement):
            for j, attachment in enumerate(attachments):
                if not isinstance(attachment, dict) or not isinstance(attachment.get("sha2"), str):
                    continue
                field = f"{prefix}{path}[{j}]"
                sha2 = attachment["sha2"].lower()
                signature = attachment.get("usageType") == SIGNATURE_USAGE_TYPE
                if signature and _media_type(str(attachment.get("contentType", ""))) != (
                    SIGNATURE_CONTENT_TYPE
                ):
                    raise ValidationError(
                        f"a signature attachment must have contentType {SIGNATURE_CONTENT_TYPE}",
                        f"{field}.contentType",
                    )
                if sha2 in parts:
                    used.add(sha2)
                elif signature:
                    raise ValidationError(
                        "a signature attachment must be sent with its JWS as a multipart part",
                        field,
                    )
                elif "fileUrl" not in attachment:
                    raise ValidationError(
                        "an attachment without fileUrl must be sent as a multipart/mixed part "
                        f"with {HASH_HEADER}: {attachment['sha2']}",
                        field,
                    )
        try:
            verify_signed_statement(statement, parts)
        except ValidationError as error:
            raise (_prefixed(error, f"[{i}]") if batch else error) from None
    unused = sorted(set(parts) - used)
    if unused:
        raise ValidationError(
            f"multipart part {unused[0]} is not the data of any attachment in the statements",
            HASH_HEADER,
        )


# ---------------------------------------------------------------------------------------------
# Response bodies


def _safe_content_type(value: str) -> str:
    """A stored contentType comes from statement JSON and may hold anything, line breaks
    included; only a plausible media type goes into a response header."""
    if not value or _CONTROL.search(value) or "/" not in value:
        return "application/octet-stream"
    return value


def build_multipart(json_body: bytes, parts: Sequence[PartLike]) -> tuple[bytes, str]:
    """The `GET /statements?attachments=true` response: JSON first, then each distinct part.

    Returns the body and its Content-Type (`multipart/mixed; boundary=...`, unquoted, with
    one space, because the conformance suite reads the boundary with naive string splits).
    The boundary is derived from the content, so the same response is built the same way, and
    lengthened until it occurs nowhere in the content. Each attachment's data is sent once
    however many statements name it, as the spec advises.
    """
    distinct: dict[str, PartLike] = {}
    for part in parts:
        distinct.setdefault(part.sha2.lower(), part)

    seed = hashlib.sha256(json_body)
    for sha2 in distinct:
        seed.update(sha2.encode("ascii", "replace"))
    boundary = "xapi" + seed.hexdigest()[:32]
    pieces = [json_body, *(part.data for part in distinct.values())]
    counter = 0
    while any(boundary.encode("ascii") in piece for piece in pieces):
        counter += 1
        boundary = "xapi" + hashlib.sha256(f"{boundary}{counter}".encode()).hexdigest()[:32]

    dash = b"--" + boundary.encode("ascii")
    out = [dash, b"\r\nContent-Type: application/json\r\n\r\n", json_body, b"\r\n"]
    for sha2, part in distinct.items():
        out += [
            dash,
            b"\r\nContent-Type: ",
            _safe_content_type(part.content_type).encode("latin-1", "replace"),
            b"\r\nContent-Transfer-Encoding: binary\r\n",
            HASH_HEADER.encode("ascii") + b": " + sha2.encode("ascii", "replace"),
            b"\r\n\r\n",
            part.data,
            b"\r\n",
        ]
    out += [dash, b"--\r\n"]
    return b"".join(out), f"multipart/mixed; boundary={boundary}"
