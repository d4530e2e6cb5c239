"""The pages over HTTP, per role: what each credential sees and does not, sign-in and its
cookie, CSRF, languages, the public page and its releases in the access log."""

from __future__ import annotations

import csv
import io
import re
from typing import Any

from lrs.domain.records import AccessQuery
from lrs.ops.audit import verify
from tests.web.conftest import CLASS, QUIZ, Seeded, sign_in

PERSON = "p-u0001"  # in CLASS


def test_pages_need_a_session(browse: Any) -> None:
    anonymous = browse(None)
    for path in ("/", f"/class?id={CLASS}", f"/person?id={PERSON}", "/areas", "/audit", "/ops"):
        answer = anonymous.get(path, follow_redirects=False)
        assert answer.status_code == 303, path
        assert answer.headers["location"].startswith("/signin?next=")


def test_sign_in_checks_the_secret_and_sets_a_safe_cookie(seeded: Seeded, browse: Any) -> None:
    client = browse(None)
    key, secret = seeded.secrets["school"]
    wrong = sign_in(client, key, secret[:-1] + ("0" if secret[-1] != "0" else "1"))
    assert wrong.status_code == 401
    assert "sai mật mã" in wrong.text or "wrong secret" in wrong.text
    assert "lrs_session" not in client.cookies
    right = sign_in(client, key, secret)
    assert right.status_code == 303
    cookie = right.headers["set-cookie"]
    assert "HttpOnly" in cookie and "SameSite=lax" in cookie
    assert "Secure" not in cookie  # the test server listens on loopback: plain http
    assert secret not in cookie
    assert client.get("/").status_code == 200


def test_the_cookie_is_secure_off_loopback(monkeypatch: Any, browse: Any, seeded: Seeded) -> None:
    monkeypatch.setenv("LRS_COOKIE_SECURE", "1")
    client = browse(None)
    answer = sign_in(client, *seeded.secrets["admin"])
    assert "Secure" in answer.headers["set-cookie"]


def test_sign_in_without_the_forms_token_is_refused(seeded: Seeded, browse: Any) -> None:
    client = browse(None)
    key, secret = seeded.secrets["admin"]
    answer = client.post("/signin", data={"key": key, "secret": secret, "csrf": "forged"})
    assert answer.status_code == 401
    assert "lrs_session" not in answer.headers.get("set-cookie", "")


def test_sign_out_needs_the_sessions_token(browse: Any) -> None:
    client = browse("admin")
    refused = client.post("/signout", data={"csrf": "forged"}, follow_redirects=False)
    assert refused.status_code == 400
    assert client.get("/", follow_redirects=False).status_code == 200
    token = re.search(r'name="csrf" value="([^"]+)"', client.get("/").text)
    assert token is not None
    done = client.post("/signout", data={"csrf": token.group(1)}, follow_redirects=False)
    assert done.status_code == 303
    assert client.get("/", follow_redirects=False).status_code == 303


def test_a_forged_cookie_is_no_session(browse: Any) -> None:
    client = browse(None)
    client.cookies.set("lrs_session", "eyJrIjoiYWRtaW4ifQ.forged.signature")
    assert client.get("/", follow_redirects=False).status_code == 303


def test_sign_in_never_redirects_off_site(seeded: Seeded, browse: Any) -> None:
    client = browse(None)
    page = client.get("/signin")
    token = re.search(r'name="csrf" value="([^"]+)"', page.text)
    assert token is not None
    key, secret = seeded.secrets["admin"]
    answer = client.post(
        "/signin", data={"key": key, "secret": secret, "csrf": token.group(1), "next": "//evil.example/"},
        follow_redirects=False,
    )  # fmt: skip
    assert answer.headers["location"] == "/"


def test_admin_sees_every_page(browse: Any) -> None:
    admin = browse("admin")
    home = admin.get("/")
    assert "Lớp 10A1" in home.text and "Lớp 8A" in home.text
    page = admin.get("/class", params={"id": CLASS})
    assert page.status_code == 200
    assert 'id="heatmap"' in page.text and "s-achieved" in page.text
    assert admin.get("/ops").status_code == 200
    ops = admin.get("/ops").text
    assert "lrs_http_requests_total" in ops and "lrs_http_request_duration_seconds_bucket" in ops
    # the demo's statements, stored before the page was asked, counted from the store
    assert re.search(r"<code>lrs_statements_stored_total</code></th><td><small>org=&#34;", ops)
    assert admin.get("/audit").status_code == 200


def test_a_school_sees_its_classes_but_not_the_audit_or_operations(browse: Any) -> None:
    school = browse("school")
    home = school.get("/")
    assert "Lớp 10A1" in home.text
    assert 'href="/audit"' not in home.text and 'href="/ops"' not in home.text
    assert school.get("/class", params={"id": CLASS}).status_code == 200
    assert school.get("/person", params={"id": PERSON}).status_code == 200
    assert school.get("/audit").status_code == 403
    assert school.get("/ops").status_code == 403


def test_another_organisations_school_sees_nothing_of_this_one(browse: Any) -> None:
    other = browse("other_school")
    home = other.get("/")
    assert "Lớp 10A1" not in home.text
    # the same answer as for a class or person that does not exist
    assert other.get("/class", params={"id": CLASS}).status_code == 404
    assert other.get("/class", params={"id": CLASS + "-nope"}).status_code == 404
    assert other.get("/person", params={"id": PERSON}).status_code == 404
    areas = other.get("/areas", params={"by": "org"})
    assert areas.status_code == 200
    assert "thpt-an-binh" not in areas.text


def test_an_auditor_reads_history_and_the_logs_state_not_operations(browse: Any) -> None:
    auditor = browse("auditor")
    page = auditor.get("/audit", params={"person": PERSON})
    assert page.status_code == 200
    assert 'id="chain-state"' in page.text and "✓" in page.text
    assert 'id="timeline"' in page.text and QUIZ in page.text
    assert auditor.get("/ops").status_code == 403
    export = auditor.get("/audit/export", params={"person": PERSON, "format": "csv"})
    assert export.status_code == 200
    rows = list(csv.reader(io.StringIO(export.text)))
    assert rows[0][0] == "id" and len(rows) > 2


def test_audit_filters_narrow_the_history(browse: Any) -> None:
    auditor = browse("auditor")
    answered = "http://adlnet.gov/expapi/verbs/answered"
    export = auditor.get("/audit/export", params={"person": PERSON, "verb": answered, "format": "csv"})
    rows = list(csv.DictReader(io.StringIO(export.text)))
    assert len(rows) == 2 and {r["verb"] for r in rows} == {answered}
    bad = auditor.get("/audit", params={"person": PERSON, "verb": "not an iri"})
    assert bad.status_code == 400 and "verb" in bad.text


def test_a_platform_that_only_writes_sees_no_learner_data(browse: Any) -> None:
    platform = browse("platform")
    assert "Lớp 10A1" not in platform.get("/").text
    assert platform.get("/class", params={"id": CLASS}).status_code == 403
    assert platform.get("/areas").status_code == 403
    assert platform.get("/audit").status_code == 403


def test_school_reads_are_logged_as_the_apis_are(seeded: Seeded, browse: Any) -> None:
    store = seeded.app.state.store
    key, _ = seeded.secrets["school"]
    before = len(store.read_access(AccessQuery(credential=key, limit=1000)))
    browse("school").get("/class", params={"id": CLASS})
    entries = store.read_access(AccessQuery(credential=key, limit=1000))
    assert len(entries) == before + 1 and entries[-1].what == "page/class"


def test_class_page_shows_roster_inactive_and_item_analysis(browse: Any) -> None:
    page = browse("school").get("/class", params={"id": CLASS, "days": "30"}).text
    assert page.count("<tr>") > 14  # roster + heatmap rows
    inactive = page[page.index('id="h-inactive"') :]
    assert "30" in inactive[:200]
    quiz = page[page.index('id="quiz"') :]
    # q2 is right for every third member (indexes 0, 3, ... of 14: 5 of 14 = 36 %),
    # q1 for all but every fifth (11 of 14 = 79 %): the harder question first
    assert quiz.index("q2") < quiz.index("q1")
    assert "36 %" in quiz and "79 %" in quiz


def test_person_page_shows_evidence_and_next_steps(browse: Any) -> None:
    page = browse("school").get("/person", params={"id": PERSON}).text
    assert 'id="timeline"' in page
    assert 'id="next-steps"' in page or "Không có đề xuất" in page


def test_bad_input_is_a_page_saying_what_to_fix(browse: Any) -> None:
    admin = browse("admin")
    answer = admin.get("/class", params={"id": CLASS, "days": "-3"})
    assert answer.status_code == 400 and "days" in answer.text
    assert admin.get("/class", params={"id": CLASS, "framework": "nope"}).status_code == 404


def test_language_follows_the_browser_and_the_switch(browse: Any) -> None:
    client = browse("admin")
    english = client.get("/", headers={"Accept-Language": "en-GB,en;q=0.9"})
    assert 'lang="en"' in english.text and "Classes" in english.text
    assert 'lang="vi"' in client.get("/", headers={"Accept-Language": "vi"}).text
    client.get("/lang/en?next=/", follow_redirects=False)
    assert "Classes" in client.get("/", headers={"Accept-Language": "vi"}).text


def test_public_page_needs_no_sign_in_and_withholds_small_cells(browse: Any) -> None:
    public = browse(None)
    page = public.get("/public", params={"by": "commune"})
    assert page.status_code == 200 and 'id="open-data"' in page.text
    data = public.get("/public/data.json", params={"by": "org"}).json()
    assert data["licence"]["url"].startswith("https://creativecommons.org/")
    assert {c["field"] for c in data["dictionary"]} >= {"group", "count", "withheld"}
    for row in data["records"]:
        if row["count"] is not None:
            assert row["count"] == 0 or row["count"] >= 10, row
    assert any(row["withheld"] for row in data["records"])
    text = public.get("/public/data.csv", params={"by": "target_group"}).text
    assert text.startswith("framework,by,group,label,measure,category,count,withheld")
    assert "p-u0" not in text and "account:" not in text  # nothing about a person


def test_public_release_is_recorded_in_the_access_log(seeded: Seeded, browse: Any) -> None:
    from lrs.web import opendata

    opendata.forget()
    store = seeded.app.state.store
    data = browse(None).get("/public/data.json", params={"by": "commune"}).json()
    entries = store.read_access(AccessQuery(credential="public", limit=1000))
    assert entries[-1].action == "release"
    assert entries[-1].query["sha256"] == data["sha256"]
    assert verify(store)[1] is None


def test_public_rounding_is_configurable(monkeypatch: Any, browse: Any) -> None:
    from lrs.web import opendata

    monkeypatch.setenv("LRS_OPEN_DATA_ROUNDING", "5")
    opendata.forget()
    data = browse(None).get("/public/data.json", params={"by": "commune"}).json()
    assert data["disclosure"]["rounding_base"] == 5
    assert all(r["count"] % 5 == 0 for r in data["records"] if r["count"] is not None)
    opendata.forget()


def test_public_data_refuses_a_class_dimension_with_a_json_error(browse: Any) -> None:
    answer = browse(None).get("/public/data.json", params={"by": "class"})
    assert answer.status_code == 400
    assert answer.json()["error"]["field"] == "by"


def test_pages_carry_their_own_content_security_policy(browse: Any) -> None:
    answer = browse(None).get("/public")
    assert "script-src 'self'" in answer.headers["content-security-policy"]
    assert "unsafe-inline" not in answer.headers["content-security-policy"]
    assert browse(None).get("/static/uPlot.iife.min.js").status_code == 200


def test_trend_follows_the_programme_month_by_month(browse: Any) -> None:
    """The demo's evidence runs from September to early November 2025: the share of
    persons confirmed under Decision 757 rises over those month ends, against its target."""
    page = browse("admin").get(
        "/areas",
        params={"framework": "https://w3id.org/lrs/frameworks/vn-decision-757/2025",
                "by": "commune", "months": "4", "end": "2025-11-30"},
    ).text  # fmt: skip
    trend = page[page.index('id="trend"') :]
    dates = re.findall(r"<td>(\d{4}-\d{2}-\d{2})</td>", trend)
    assert dates == ["2025-07-31", "2025-08-31", "2025-09-30", "2025-10-31", "2025-11-30"]
    shares = [int(s) for s in re.findall(r'class="num">(\d+) %</td><td class="num">70 %', trend)]
    assert len(shares) == 5 and shares[0] == 0 and shares[-1] > shares[1]
    assert shares == sorted(shares)


def test_trend_span_is_checked(browse: Any) -> None:
    answer = browse("admin").get("/areas", params={"months": "99"})
    assert answer.status_code == 400 and "months" in answer.text


def test_a_new_secret_ends_the_sessions_made_with_the_old_one(seeded: Seeded, browse: Any) -> None:
    from dataclasses import replace

    from lrs.auth import create_credential, hash_secret

    store = seeded.app.state.store
    made = create_credential(store, "rotated", ["statements/read"], role="school")
    client = browse(None)
    assert sign_in(client, made.credential.key, made.secret).status_code == 303
    assert client.get("/", follow_redirects=False).status_code == 200
    store.save_credential(replace(made.credential, secret_hash=hash_secret("a new secret")))
    assert client.get("/", follow_redirects=False).status_code == 303
