"""OIDC bearer tokens: a local test issuer serves discovery and its JWKS over HTTP on
loopback (a real server in a thread); tokens are signed with keys generated here. Every
bad token is refused with 401 and a Bearer challenge; a good one acts with the org, role and
scopes its claims map to, and Basic credentials keep working beside it."""

from __future__ import annotations

import base64
import json
import threading
import time
import uuid
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import jwt
import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from starlette.testclient import TestClient

from lrs.api.app import create_app
from lrs.auth import create_credential
from lrs.config import SettingsError, load_settings
from tests.conftest import basic_auth

AUDIENCE = "https://lrs.example.org"
VERSION = {"X-Experience-API-Version": "1.0.3"}


class Issuer:
    """A minimal OpenID provider: discovery, a JWKS that can rotate, and a fetch counter."""

    def __init__(self) -> None:
        self.keys: dict[str, Any] = {}  # kid -> private key
        self.jwks_fetches = 0
        issuer = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:  # noqa: N802 (http.server's name)
                if self.path == "/.well-known/openid-configuration":
                    body = {"issuer": issuer.url, "jwks_uri": issuer.url + "/jwks"}
                elif self.path == "/jwks":
                    issuer.jwks_fetches += 1
                    body = {"keys": [issuer.public_jwk(kid) for kid in issuer.keys]}
                else:
                    self.send_error(404)
                    return
                data = json.dumps(body).encode()
                self.send_response(200)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            def log_message(self, *args: Any) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    def add_rsa(self, kid: str) -> None:
        self.keys[kid] = rsa.generate_private_key(public_exponent=65537, key_size=2048)

    def add_ec(self, kid: str) -> None:
        self.keys[kid] = ec.generate_private_key(ec.SECP256R1())

    def public_jwk(self, kid: str) -> dict[str, Any]:
        key = self.keys[kid]
        algorithm = (
            jwt.algorithms.RSAAlgorithm
            if isinstance(key, rsa.RSAPrivateKey)
            else jwt.algorithms.ECAlgorithm
        )
        jwk: dict[str, Any] = json.loads(algorithm.to_jwk(key.public_key()))
        return {**jwk, "kid": kid, "use": "sig"}

    def token(self, kid: str, **claims: Any) -> str:
        key = self.keys[kid]
        now = int(time.time())
        body = {
            "iss": self.url,
            "aud": AUDIENCE,
            "sub": "client-1",
            "iat": now,
            "exp": now + 300,
            "scope": "openid statements/read statements/write",
            "org": "org-a",
            **claims,
        }
        body = {k: v for k, v in body.items() if v is not None}
        alg = "RS256" if isinstance(key, rsa.RSAPrivateKey) else "ES256"
        return jwt.encode(body, key, algorithm=alg, headers={"kid": kid})

    def stop(self) -> None:
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def issuer() -> Iterator[Issuer]:
    server = Issuer()
    server.add_rsa("k1")
    server.add_ec("e1")
    yield server
    server.stop()


@pytest.fixture
def client(tmp_path: Path, issuer: Issuer) -> Iterator[TestClient]:
    issuers = [
        {
            "issuer": issuer.url,
            "audience": AUDIENCE,
            "algorithms": ["RS256", "ES256"],
            "org_claim": "org",
            "clock_skew": 30,
            "jwks_min_refetch": 0,
        }
    ]
    settings = load_settings(
        data=str(tmp_path), processors=False, environ={"LRS_OIDC_ISSUERS": json.dumps(issuers)}
    )
    with TestClient(create_app(settings)) as test_client:
        yield test_client


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def _statement() -> dict[str, Any]:
    return {
        "id": str(uuid.uuid4()),
        "actor": {"objectType": "Agent", "mbox": "mailto:lan@example.org"},
        "verb": {"id": "http://adlnet.gov/expapi/verbs/completed"},
        "object": {"id": "http://example.org/course/1"},
    }


def _post(client: TestClient, token: str) -> Any:
    return client.post(
        "/xapi/statements",
        json=_statement(),
        headers={**VERSION, "Authorization": "Bearer " + token},
    )


def _refused(response: Any, words: str) -> None:
    assert response.status_code == 401, response.text
    challenge = response.headers["www-authenticate"]
    assert challenge.startswith('Bearer realm="xAPI", error="invalid_token"'), challenge
    assert words in response.json()["error"]["message"], response.json()


def test_a_valid_token_acts_with_its_mapped_org_and_scopes(
    client: TestClient, issuer: Issuer
) -> None:
    token = issuer.token("k1")
    posted = _post(client, token)
    assert posted.status_code == 200, posted.text
    read = client.get(
        "/xapi/statements",
        params={"statementId": posted.json()[0]},
        headers={**VERSION, "Authorization": "Bearer " + token},
    )
    assert read.status_code == 200, read.text
    authority = read.json()["authority"]["account"]["name"]
    assert authority == f"oidc:{issuer.url.removeprefix('http://')}:client-1"
    # an ES256 key of the same issuer works too
    assert _post(client, issuer.token("e1")).status_code == 200


def test_a_read_only_scope_cannot_post(client: TestClient, issuer: Issuer) -> None:
    token = issuer.token("k1", scope="statements/read")
    refused = _post(client, token)
    assert refused.status_code == 403, refused.text
    assert (
        client.get(
            "/xapi/statements", headers={**VERSION, "Authorization": "Bearer " + token}
        ).status_code
        == 200
    )


def test_the_org_claim_scopes_what_a_token_reads(client: TestClient, issuer: Issuer) -> None:
    posted = _post(client, issuer.token("k1", org="org-a"))
    statement_id = posted.json()[0]
    other = issuer.token("k1", org="org-b", sub="client-2")
    read = client.get(
        "/xapi/statements",
        params={"statementId": statement_id},
        headers={**VERSION, "Authorization": "Bearer " + other},
    )
    assert read.status_code == 404


def test_expired_and_not_yet_valid_tokens_are_refused(client: TestClient, issuer: Issuer) -> None:
    now = int(time.time())
    _refused(_post(client, issuer.token("k1", iat=now - 600, exp=now - 60)), "expired")
    _refused(_post(client, issuer.token("k1", nbf=now + 120)), "not valid yet")
    _refused(_post(client, issuer.token("k1", iat=now + 120, exp=now + 600)), "not valid yet")
    # within the clock skew (30 s): accepted
    assert _post(client, issuer.token("k1", iat=now - 400, exp=now - 10)).status_code == 200
    _refused(_post(client, issuer.token("k1", exp=None)), "exp")


def test_wrong_audience_issuer_and_key_are_refused(client: TestClient, issuer: Issuer) -> None:
    _refused(_post(client, issuer.token("k1", aud="https://other.example.org")), "aud")
    _refused(_post(client, issuer.token("k1", iss="https://evil.example.org")), "issuer")
    stranger = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    now = int(time.time())
    forged = jwt.encode(
        {
            "iss": issuer.url,
            "aud": AUDIENCE,
            "sub": "x",
            "iat": now,
            "exp": now + 60,
            "scope": "statements/write",
            "org": "org-a",
        },
        stranger,
        algorithm="RS256",
        headers={"kid": "k1"},
    )
    _refused(_post(client, forged), "signature")
    _refused(_post(client, "not-a-jwt"), "not a JWT")


def test_alg_none_and_hs256_with_the_public_key_are_refused(
    client: TestClient, issuer: Issuer
) -> None:
    now = int(time.time())
    claims = {
        "iss": issuer.url,
        "aud": AUDIENCE,
        "sub": "x",
        "iat": now,
        "exp": now + 60,
        "scope": "statements/write",
        "org": "org-a",
    }
    unsigned = (
        _b64(json.dumps({"alg": "none", "typ": "JWT", "kid": "k1"}).encode())
        + "."
        + _b64(json.dumps(claims).encode())
        + "."
    )
    _refused(_post(client, unsigned), "'none' is not allowed")
    # The downgrade: HMAC with the issuer's public key (as PEM and as the JWK's text) as secret.
    public_pem = (
        issuer.keys["k1"]
        .public_key()
        .public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)
    )
    import hashlib
    import hmac

    for secret in (public_pem, json.dumps(issuer.public_jwk("k1")).encode()):
        head = _b64(json.dumps({"alg": "HS256", "typ": "JWT", "kid": "k1"}).encode())
        body = _b64(json.dumps(claims).encode())
        signature = _b64(hmac.new(secret, f"{head}.{body}".encode(), hashlib.sha256).digest())
        _refused(_post(client, f"{head}.{body}.{signature}"), "'HS256' is not allowed")


def test_key_rotation_refetches_the_jwks_once(client: TestClient, issuer: Issuer) -> None:
    assert _post(client, issuer.token("k1")).status_code == 200
    fetched = issuer.jwks_fetches
    issuer.add_rsa("k2")  # the issuer rotates: a new kid the LRS has not seen
    del issuer.keys["k1"]
    assert _post(client, issuer.token("k2")).status_code == 200
    assert issuer.jwks_fetches == fetched + 1
    # the old key is gone from the set: its tokens are refused now
    issuer.keys["k1"] = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    old = issuer.token("k1")
    del issuer.keys["k1"]
    _refused(_post(client, old), "no signing key 'k1'")


def test_unknown_kids_refetch_at_most_once_per_interval(tmp_path: Path, issuer: Issuer) -> None:
    issuers = [{"issuer": issuer.url, "audience": AUDIENCE, "jwks_min_refetch": 3600}]
    settings = load_settings(
        data=str(tmp_path), processors=False, environ={"LRS_OIDC_ISSUERS": json.dumps(issuers)}
    )
    with TestClient(create_app(settings)) as client:
        assert _post(client, issuer.token("k1", org=None)).status_code == 200
        fetched = issuer.jwks_fetches
        issuer.add_rsa("k9")
        for _ in range(5):  # a flood of unknown kids cannot make the LRS hammer the issuer
            _refused(_post(client, issuer.token("k9", org=None)), "no signing key")
        assert issuer.jwks_fetches == fetched


def test_basic_credentials_keep_working(client: TestClient, tmp_path: Path, issuer: Issuer) -> None:
    store = client.app.state.store  # type: ignore[attr-defined]
    made = create_credential(store, "basic", ["all"])
    answer = client.post(
        "/xapi/statements",
        json=_statement(),
        headers={**VERSION, "Authorization": basic_auth(made.credential.key, made.secret)},
    )
    assert answer.status_code == 200
    missing = client.get("/xapi/statements", headers=VERSION)
    assert missing.status_code == 401
    assert missing.headers["www-authenticate"] == 'Basic realm="xAPI"'


def test_a_token_mapping_no_scope_or_a_forbidden_role_is_refused(
    tmp_path: Path, issuer: Issuer
) -> None:
    issuers = [
        {
            "issuer": issuer.url,
            "audience": AUDIENCE,
            "scope_map": {"lrs.read": "statements/read"},
            "role_claim": "roles",
            "roles": ["platform"],
        }
    ]
    settings = load_settings(
        data=str(tmp_path), processors=False, environ={"LRS_OIDC_ISSUERS": json.dumps(issuers)}
    )
    with TestClient(create_app(settings)) as client:
        headers = {**VERSION, "Authorization": "Bearer " + issuer.token("k1", scope="lrs.read")}
        assert client.get("/xapi/statements", headers=headers).status_code == 200
        # unmapped words grant nothing, even when they are LRS scope names
        _refused(_post(client, issuer.token("k1", scope="statements/write")), "no scope")
        # a role claim naming admin is not honoured: admin is not in this issuer's roles
        admin = issuer.token("k1", scope="lrs.read", roles=["admin"])
        answer = client.get(
            "/api/v1/audit", headers={**VERSION, "Authorization": "Bearer " + admin}
        )
        assert answer.status_code == 403


def test_admin_powers_come_only_from_an_issuer_allowed_to_grant_them(
    tmp_path: Path, issuer: Issuer
) -> None:
    """A token's `admin` scope word is ignored unless the issuer's roles include admin."""
    settings = load_settings(
        data=str(tmp_path),
        processors=False,
        environ={"LRS_OIDC_ISSUERS": json.dumps([{"issuer": issuer.url, "audience": AUDIENCE}])},
    )
    with TestClient(create_app(settings)) as client:
        token = issuer.token("k1", scope="statements/read admin", org=None)
        answer = client.get(
            "/api/v1/audit", headers={**VERSION, "Authorization": "Bearer " + token}
        )
        assert answer.status_code == 403
    trusted = [
        {
            "issuer": issuer.url,
            "audience": AUDIENCE,
            "role_claim": "roles",
            "roles": ["platform", "admin"],
            "role": "platform",
        }
    ]
    settings = load_settings(
        data=str(tmp_path / "2"),
        processors=False,
        environ={"LRS_OIDC_ISSUERS": json.dumps(trusted)},
    )
    with TestClient(create_app(settings)) as client:
        token = issuer.token("k1", scope="statements/read", roles=["admin"], org=None)
        answer = client.get(
            "/api/v1/audit", headers={**VERSION, "Authorization": "Bearer " + token}
        )
        assert answer.status_code == 200, answer.text


def test_issuers_from_a_toml_file_and_their_mistakes(tmp_path: Path) -> None:
    config = tmp_path / "lrs.toml"
    config.write_text(
        """
[lrs]
[[lrs.oidc_issuers]]
issuer = "https://login.example.org/realms/school"
audience = ["lrs", "https://lrs.example.org"]
algorithms = ["ES256"]
org_claim = "school"
scope_map = { "xapi.read" = "statements/read", "xapi.write" = ["statements/write", "state"] }
clock_skew = 10
"""
    )
    (issuer,) = load_settings(str(config), environ={}).oidc_issuers
    assert issuer.audience == ("lrs", "https://lrs.example.org")
    assert issuer.scopes_for == {
        "xapi.read": ("statements/read",),
        "xapi.write": ("statements/write", "state"),
    }
    assert issuer.label == "login.example.org"
    for line, words in (
        ('algorithms = ["HS256"]', "algorithms.0"),
        ('algorithms = ["none"]', "algorithms.0"),
        ('issuer = "http://login.example.org"', "issuer"),
        ("clock_skew = -1", "clock_skew"),
        ('roles = ["emperor"]', "roles"),
        ('colour = "red"', "colour"),
    ):
        key = line.split(" = ")[0]
        body = [ln for ln in config.read_text().splitlines() if not ln.startswith(key + " ")] + [
            line
        ]
        bad = tmp_path / "bad.toml"
        bad.write_text("\n".join(body))
        with pytest.raises(SettingsError) as raised:
            load_settings(str(bad), environ={})
        assert f"oidc_issuers: 0.{words}" in str(raised.value), str(raised.value)


def test_caliper_envelopes_accept_the_same_tokens(client: TestClient, issuer: Issuer) -> None:
    envelope = {"sensor": "s", "sendTime": "2026-03-01T10:00:00Z", "dataVersion": "v", "data": []}
    good = client.post(
        "/caliper/v1p2", json=envelope, headers={"Authorization": "Bearer " + issuer.token("k1")}
    )
    assert good.status_code == 200, good.text
    now = int(time.time())
    expired = issuer.token("k1", iat=now - 600, exp=now - 60)
    refused = client.post(
        "/caliper/v1p2", json=envelope, headers={"Authorization": "Bearer " + expired}
    )
    assert refused.status_code == 401 and "expired" in refused.json()["error"]["message"]


def test_the_keys_are_fetched_at_startup(client: TestClient, issuer: Issuer) -> None:
    """Before any token arrives, so the first client does not wait for the issuer."""
    deadline = time.monotonic() + 10
    while issuer.jwks_fetches == 0:
        assert time.monotonic() < deadline, "the key set was not fetched at startup"
        time.sleep(0.05)
    assert _post(client, issuer.token("k1")).status_code == 200
    assert issuer.jwks_fetches == 1
