"""`lrs serve` itself serves the pages, beside the APIs, from the package's files."""

from __future__ import annotations

import re

import httpx

from tests.conftest import LiveLRS


def test_lrs_serve_serves_the_sign_in_and_public_pages(live_lrs: LiveLRS) -> None:
    root = live_lrs.root
    with httpx.Client(base_url=root, timeout=30, follow_redirects=True) as client:
        signin = client.get("/signin")
        assert signin.status_code == 200 and 'name="csrf"' in signin.text
        token = re.search(r'name="csrf" value="([^"]+)"', signin.text)
        assert token is not None
        answer = client.post(
            "/signin",
            data={"key": live_lrs.key, "secret": live_lrs.secret, "csrf": token.group(1)},
        )
        assert answer.status_code == 200 and answer.url.path == "/"
        assert "lrs_session" in client.cookies
        assert client.get("/public").status_code == 200
        assert client.get("/static/style.css").headers["content-type"].startswith("text/css")
        assert client.get("/xapi/about").status_code == 200  # the API beside them
