"""OneRoster CSV exports: rosters become class groups, gradebook results scored statements.

The 1.1 and 1.2 exports below are small but shaped like real ones (a Vietnamese upper
secondary school; the 1.2 set has the header typos real exports carry, as in the public
samples of catalyst/moodle-enrol_oneroster). No public gradebook sample exists, so
lineItems.csv and results.csv are made up here. Runs go through `python -m lrs.cli connect
oneroster`, as an operator runs them; what was stored is read back from the store and
through the query API.
"""

from __future__ import annotations

import os
import subprocess
import sys
import zipfile
from pathlib import Path
from typing import Any
from urllib.parse import quote

import orjson
import pytest
from starlette.testclient import TestClient

from connectors.base import MappingError, statement_id
from connectors.oneroster.files import read_export, resolve_headers
from connectors.oneroster.mapping import build_gradebook, build_roster, result_statement
from consumers.reducers.enabled import reducers
from consumers.runtime.local import catch_up
from lrs.api.app import create_app
from lrs.auth import create_credential
from lrs.config import load_settings
from lrs.domain.records import StatementQuery
from lrs.national_id import pseudonymise
from lrs.ports import Store
from lrs.rosters import class_members
from lrs.storage import open_store

REPO_ROOT = Path(__file__).resolve().parents[2]
SIS = "https://sis.thpt-lequydon.edu.vn"
CLASS_10A1 = f"{SIS}/classes/cls-10a1"
CLASS_10A2 = f"{SIS}/classes/cls-10a2"
SECRET = "test-deployment-secret-0123456789"
CCCD_AN = "001204012345"  # a made-up 12-digit citizen ID number
SCORED = "http://adlnet.gov/expapi/verbs/scored"

V11: dict[str, str] = {
    "orgs.csv": """sourcedId,status,dateLastModified,name,type,identifier,parentSourcedId
org-hn,active,2025-08-01T00:00:00Z,Sở GD&ĐT Hà Nội,district,,
org-lqd,active,2025-08-01T00:00:00Z,THPT Lê Quý Đôn,school,LQD,org-hn
""",
    "academicSessions.csv": """sourcedId,status,dateLastModified,title,type,startDate,endDate,parentSourcedId,schoolYear
as-2025,active,2025-08-01T00:00:00Z,Năm học 2025-2026,schoolYear,2025-09-05,2026-05-31,,2026
as-hk1,active,2025-08-01T00:00:00Z,Học kỳ I,term,2025-09-05,2026-01-15,as-2025,2026
""",
    "courses.csv": """sourcedId,status,dateLastModified,schoolYearSourcedId,title,courseCode,grades,orgSourcedId,subjects,subjectCodes
crs-tin10,active,2025-08-01T00:00:00Z,as-2025,Tin học 10,TIN10,10,org-lqd,Tin học,TIN
""",
    "classes.csv": """sourcedId,status,dateLastModified,title,grades,courseSourcedId,classCode,classType,location,schoolSourcedId,termSourcedIds,subjects,subjectCodes,periods
cls-10a1,active,2025-08-01T00:00:00Z,Tin học 10A1,10,crs-tin10,10A1-TIN,scheduled,P.201,org-lqd,as-hk1,Tin học,TIN,1
cls-10a2,active,2025-08-01T00:00:00Z,Tin học 10A2,10,crs-tin10,10A2-TIN,scheduled,P.202,org-lqd,as-hk1,Tin học,TIN,2
""",
    "users.csv": """sourcedId,status,dateLastModified,enabledUser,orgSourcedIds,role,username,userIds,givenName,familyName,middleName,identifier,email,sms,phone,agentSourcedIds,grades,password,metadata.cccd
usr-t1,active,2025-08-01T00:00:00Z,true,org-lqd,teacher,lan.tran,,Lan,Trần,Thị,GV001,lan.tran@lqd.edu.vn,,,,,,
usr-s1,active,2025-08-01T00:00:00Z,true,org-lqd,student,an.nguyen,,An,Nguyễn,Văn,HS001,an.nguyen@lqd.edu.vn,,,,10,,001 204 012345
usr-s2,active,2025-08-01T00:00:00Z,true,org-lqd,student,binh.le,,Bình,Lê,Thanh,HS002,binh.le@lqd.edu.vn,,,,10,,
usr-s3,active,2025-08-01T00:00:00Z,true,org-lqd,student,chi.pham,,Chi,Phạm,Thu,HS003,chi.pham@lqd.edu.vn,,,,10,,
usr-s4,active,2025-08-01T00:00:00Z,true,org-lqd,student,dung.vo,,Dũng,Võ,Minh,HS004,dung.vo@lqd.edu.vn,,,,10,,
""",
    "enrollments.csv": """sourcedId,status,dateLastModified,classSourcedId,schoolSourcedId,userSourcedId,role,primary,beginDate,endDate
enr-1,active,2025-08-01T00:00:00Z,cls-10a1,org-lqd,usr-t1,teacher,true,2025-09-05,2026-01-15
enr-2,active,2025-08-01T00:00:00Z,cls-10a1,org-lqd,usr-s1,student,false,2025-09-05,2026-01-15
enr-3,active,2025-08-01T00:00:00Z,cls-10a1,org-lqd,usr-s2,student,false,2025-09-05,2026-01-15
enr-4,active,2025-08-01T00:00:00Z,cls-10a1,org-lqd,usr-s4,student,false,2025-09-05,2026-01-15
enr-5,active,2025-08-01T00:00:00Z,cls-10a2,org-lqd,usr-t1,teacher,true,2025-09-05,2026-01-15
enr-6,active,2025-08-01T00:00:00Z,cls-10a2,org-lqd,usr-s3,student,false,2025-09-05,2026-01-15
""",
    "lineItems.csv": """sourcedId,status,dateLastModified,title,description,assignDate,dueDate,classSourcedId,categorySourcedId,gradingPeriodSourcedId,resultValueMin,resultValueMax
li-15p-1,active,2025-09-20T00:00:00Z,Kiểm tra 15 phút số 1,Tìm kiếm thông tin,2025-09-15,2025-09-19,cls-10a1,cat-15p,as-hk1,0,10
li-gk,active,2025-11-01T00:00:00Z,Kiểm tra giữa kỳ,,2025-10-27,2025-10-31,cls-10a1,cat-gk,as-hk1,0,10
li-a2-15p,active,2025-09-20T00:00:00Z,Kiểm tra 15 phút số 1 (10A2),,2025-09-15,2025-09-19,cls-10a2,cat-15p,as-hk1,0,10
""",
    "results.csv": """sourcedId,status,dateLastModified,lineItemSourcedId,studentSourcedId,scoreStatus,score,scoreDate,comment
res-1,active,2025-09-20T08:00:00Z,li-15p-1,usr-s1,fully graded,8.5,2025-09-19,
res-2,active,2025-09-20T08:00:00Z,li-15p-1,usr-s2,fully graded,6,2025-09-19,
res-3,active,2025-11-02T08:00:00Z,li-gk,usr-s1,fully graded,9,2025-10-31,Tốt
res-4,active,2025-11-02T08:00:00Z,li-gk,usr-s2,not submitted,,,
res-5,active,2025-09-20T08:00:00Z,li-a2-15p,usr-s3,fully graded,7.25,,
""",
}

# 1.2: users.csv without role/orgSourcedIds, roles.csv and userProfiles.csv, a manifest, and
# the header typos of real exports: "prefferedGivenName", "dataLastModified", " Role ".
V12: dict[str, str] = {
    "manifest.csv": """propertyName,value
manifest.version,1.0
oneroster.version,1.2
file.orgs,bulk
file.users,bulk
file.classes,bulk
file.courses,bulk
file.enrollments,bulk
file.academicSessions,bulk
file.roles,bulk
file.userProfiles,bulk
file.lineItems,bulk
file.results,bulk
""",
    "orgs.csv": V11["orgs.csv"],
    "academicSessions.csv": V11["academicSessions.csv"],
    "courses.csv": V11["courses.csv"],
    "classes.csv": V11["classes.csv"],
    "users.csv": """sourcedId,status,dateLastModified,enabledUser,username,userIds,givenName,familyName,middleName,identifier,email,sms,phone,agentSourcedIds,grades,password,userMasterIdentifier,resourceSourcedIds,prefferedGivenName,preferredMiddleName,preferredFamilyName,primaryOrgSourcedId,pronouns
usr-t1,active,2025-08-01T00:00:00Z,true,lan.tran,,Lan,Trần,Thị,GV001,lan.tran@lqd.edu.vn,,,,,,,,,,,org-lqd,
usr-s1,active,2025-08-01T00:00:00Z,true,an.nguyen,,An,Nguyễn,Văn,HS001,an.nguyen@lqd.edu.vn,,,,10,,,,Ân,,,org-lqd,
usr-s2,active,2025-08-01T00:00:00Z,true,binh.le,,Bình,Lê,Thanh,HS002,binh.le@lqd.edu.vn,,,,10,,,,,,,org-lqd,
usr-s3,active,2025-08-01T00:00:00Z,true,chi.pham,,Chi,Phạm,Thu,HS003,chi.pham@lqd.edu.vn,,,,10,,,,,,,org-lqd,
usr-s4,active,2025-08-01T00:00:00Z,true,dung.vo,,Dũng,Võ,Minh,HS004,dung.vo@lqd.edu.vn,,,,10,,,,,,,org-lqd,
""",
    "roles.csv": """sourcedId,status,dateLastModified,userSourcedId,roleType,role,beginDate,endDate,orgSourcedId,userProfileSourcedId
rol-1,active,2025-08-01T00:00:00Z,usr-t1,primary,teacher,2025-09-05,2026-05-31,org-lqd,
rol-2,active,2025-08-01T00:00:00Z,usr-s1,primary,student,2025-09-05,2026-05-31,org-lqd,
""",
    "userProfiles.csv": """sourcedId,status,dataLastModified,userSourcedId,profileType,vendorId,applicationId,description,credentialType,username,password,metadata.cccd
up-1,active,2025-08-01T00:00:00Z,usr-s1,vneid,,,,,an.nguyen,,001204012345
""",
    "enrollments.csv": """sourcedId,status,dataLastModified,classSourcedId,schoolSourcedId,userSourcedId, Role ,primary,beginDate,endDate
enr-1,active,2025-08-01T00:00:00Z,cls-10a1,org-lqd,usr-t1,teacher,true,2025-09-05,2026-01-15
enr-2,active,2025-08-01T00:00:00Z,cls-10a1,org-lqd,usr-s1,student,false,2025-09-05,2026-01-15
enr-3,active,2025-08-01T00:00:00Z,cls-10a1,org-lqd,usr-s2,student,false,2025-09-05,2026-01-15
enr-4,active,2025-08-01T00:00:00Z,cls-10a1,org-lqd,usr-s4,student,false,2025-09-05,2026-01-15
enr-5,active,2025-08-01T00:00:00Z,cls-10a2,org-lqd,usr-s3,student,false,2025-09-05,2026-01-15
enr-6,active,2025-08-01T00:00:00Z,cls-10z9,org-lqd,usr-s3,student,false,2025-09-05,2026-01-15
""",
    "lineItems.csv": """sourcedId,status,dateLastModified,title,description,assignDate,dueDate,classSourcedId,categorySourcedId,gradingPeriodSourcedId,academicSessionSourcedId,schoolSourcedId,resultValueMin,resultValueMax
li-15p-1,active,2025-09-20T00:00:00Z,Kiểm tra 15 phút số 1,,2025-09-15,2025-09-19,cls-10a1,cat-15p,as-hk1,as-hk1,org-lqd,0,10
""",
    "results.csv": """sourcedId,status,dateLastModified,lineItemSourcedId,studentSourcedId,classSourcedId,scoreStatus,score,textScore,scoreDate,comment
res-1,active,2025-09-20T08:00:00Z,li-15p-1,usr-s1,cls-10a1,fully graded,8.5,,2025-09-19T16:30:00+07:00,
res-2,active,2025-09-20T08:00:00Z,li-15p-1,usr-s2,cls-10a1,fully graded,"8,0",,2025-09-19,
res-3,active,2025-09-20T08:00:00Z,li-15p-1,usr-s4,cls-10a1,fully graded,12,,2025-09-19,
res-4,active,2025-09-20T08:00:00Z,li-nope,usr-s4,cls-10a1,fully graded,5,,2025-09-19,
res-5,active,2025-09-20T08:00:00Z,li-15p-1,usr-s3,cls-10a1,fully graded,7,,19/09/2025,
""",
}


def write_export(directory: Path, files: dict[str, str]) -> Path:
    directory.mkdir(parents=True, exist_ok=True)
    for name, text in files.items():
        (directory / name).write_text(text, encoding="utf-8")
    return directory


def connect(
    data: Path, *args: str, secret: str | None = SECRET
) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("LRS_")}
    if secret is not None:
        env["LRS_IDENTITY_SECRET"] = secret
    return subprocess.run(
        [sys.executable, "-m", "lrs.cli", "connect", "oneroster", "--data", str(data), *args],
        cwd=REPO_ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


def open_data(data: Path) -> Store:
    return open_store(load_settings(data=str(data)).store_url)


def stored(store: Store) -> list[dict[str, Any]]:
    page = store.query_statements(StatementQuery(limit=1000, ascending=True))
    return [orjson.loads(s) for s in page.statements]


def learner(user: str) -> str:
    return f"account:{SIS}|{user}"


# --- whole runs ----------------------------------------------------------------------------


def test_oneroster_11_rosters_and_results_once_however_often_it_runs(tmp_path: Path) -> None:
    export = write_export(tmp_path / "export", V11)
    data = tmp_path / "data"
    first = connect(
        data,
        "--input",
        str(export),
        "--sis-url",
        SIS + "/",
        "--national-id-column",
        "metadata.cccd",
    )
    assert first.returncode == 0, first.stderr
    assert "OneRoster 1.1: 2 classes, 4 students, 1 national ID links" in first.stderr
    assert first.stderr.splitlines()[-1] == (
        "read 5, stored 4, already stored 0, unmapped 0, refused 0"
    )
    # again from the checkpoint, and again from the start: nothing is stored twice
    again = connect(data, "--input", str(export), "--sis-url", SIS)
    assert again.returncode == 0, again.stderr
    assert again.stderr.splitlines()[-1].startswith("read 0, stored 0,")
    fresh = connect(data, "--input", str(export), "--sis-url", SIS, "--no-checkpoint")
    assert fresh.returncode == 0, fresh.stderr
    assert fresh.stderr.splitlines()[-1] == (
        "read 5, stored 0, already stored 4, unmapped 0, refused 0"
    )

    store = open_data(data)
    try:
        statements = stored(store)
        assert len(statements) == 4
        assert {s["id"] for s in statements} == {
            statement_id(f"oneroster:{SIS}", r) for r in ("res-1", "res-2", "res-3", "res-5")
        }
        assert class_members(store, CLASS_10A1) == sorted(
            learner(u) for u in ("usr-s1", "usr-s2", "usr-s4")
        )
        assert class_members(store, CLASS_10A2) == [learner("usr-s3")]
        group = store.get_definition("group", CLASS_10A1)
        assert group is not None
        assert group["title"] == "Tin học 10A1"
        assert group["teachers"] == [learner("usr-t1")]
        assert group["schoolName"] == "THPT Lê Quý Đôn"
        assert group["course"] == f"{SIS}/courses/crs-tin10"
        # "001 204 012345" in users.csv is the same number as 001204012345: the same person
        person = "account:https://vneid.gov.vn|" + pseudonymise(CCCD_AN, SECRET.encode())["name"]
        assert store.person_of(learner("usr-s1")) == person
    finally:
        store.close()


def test_the_class_view_lists_the_whole_roster(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    for name in [k for k in os.environ if k.startswith("LRS_")]:
        monkeypatch.delenv(name)
    export = write_export(tmp_path / "export", V11)
    done = connect(tmp_path, "--input", str(export), "--sis-url", SIS)
    assert done.returncode == 0, done.stderr

    app = create_app(load_settings(data=str(tmp_path), processors=False))
    store = app.state.store
    try:
        catch_up(store, reducers(store))
        new = create_credential(store, "teacher", ["all/read"])
        with TestClient(app, raise_server_exceptions=False) as http:
            http.auth = (new.credential.key, new.secret)
            response = http.get(
                f"/api/v1/groups/{quote(CLASS_10A1, safe='')}/competencies",
                params={"framework": "digcomp-2.2"},
            )
        assert response.status_code == 200, response.text
        body = response.json()
        keys = sorted(view["learner"] for view in body["learners"])
        # usr-s4 has no result, yet is in the class; usr-s3 (10A2) is not
        assert keys == sorted(learner(u) for u in ("usr-s1", "usr-s2", "usr-s4"))
        assert body["count"] == 3
    finally:
        store.close()


def test_oneroster_12_with_header_typos_skips_bad_rows_and_says_so(tmp_path: Path) -> None:
    export = write_export(tmp_path / "export", V12)
    archive = tmp_path / "export.zip"
    with zipfile.ZipFile(archive, "w") as zipped:  # as schools send it: a zip with a folder
        for name, text in V12.items():
            zipped.writestr(f"lqd-2025/{name}", text)
    data = tmp_path / "data"
    done = connect(
        data, "--input", str(archive), "--sis-url", SIS, "--national-id-column", "metadata.cccd"
    )
    assert done.returncode == 3, done.stderr  # something was skipped
    err = done.stderr
    assert "OneRoster 1.2: 2 classes, 4 students, 1 national ID links; roster saved" in err
    assert "warning: users.csv: header 'prefferedGivenName' read as 'preferredGivenName'" in err
    assert "warning: enrollments.csv: header 'dataLastModified' read as 'dateLastModified'" in err
    assert "refused enrollments.csv line 7: class 'cls-10z9' is not in classes.csv" in err
    assert "refused results.csv line 3: score '8,0' is not a number" in err
    assert "refused results.csv line 4: score 12 is above the line item's resultValueMax 10" in err
    assert "refused results.csv line 5: line item 'li-nope' is not in lineItems.csv" in err
    assert "refused results.csv line 6: scoreDate '19/09/2025' is not an ISO 8601" in err
    assert err.splitlines()[-1] == "read 6, stored 1, already stored 0, unmapped 0, refused 5"

    store = open_data(data)
    try:
        (statement,) = stored(store)
        assert statement["actor"]["name"] == "Ân Nguyễn"  # the preferred given name
        assert statement["timestamp"] == "2025-09-19T09:30:00.000Z"
        assert class_members(store, CLASS_10A1) == sorted(
            learner(u) for u in ("usr-s1", "usr-s2", "usr-s4")
        )
        # the national ID: linked as its pseudonym, the number nowhere in the data
        person = "account:https://vneid.gov.vn|" + pseudonymise(CCCD_AN, SECRET.encode())["name"]
        assert store.keys_of(person) == sorted([person, learner("usr-s1")])
    finally:
        store.close()
    for path in data.rglob("*"):
        if path.is_file():
            assert CCCD_AN.encode() not in path.read_bytes(), path

    # the same export unzipped reads the same
    again = connect(data, "--input", str(export), "--sis-url", SIS, "--no-checkpoint")
    assert again.returncode == 3
    assert again.stderr.splitlines()[-1] == (
        "read 6, stored 0, already stored 1, unmapped 0, refused 5"
    )


def test_a_delta_export_changes_members_instead_of_replacing_them(tmp_path: Path) -> None:
    data = tmp_path / "data"
    full = connect(data, "--input", str(write_export(tmp_path / "full", V11)), "--sis-url", SIS)
    assert full.returncode == 0, full.stderr
    delta = {
        "manifest.csv": "propertyName,value\noneroster.version,1.1\nfile.enrollments,delta\n",
        "enrollments.csv": V11["enrollments.csv"].splitlines()[0]
        + "\nenr-9,active,2025-10-01T00:00:00Z,cls-10a1,org-lqd,usr-s3,student,false,,"
        + "\nenr-3,tobedeleted,2025-10-01T00:00:00Z,cls-10a1,org-lqd,usr-s2,student,false,,"
        + "\nenr-10,active,2025-10-01T00:00:00Z,cls-10z9,org-lqd,usr-s3,student,false,,\n",
    }
    done = connect(data, "--input", str(write_export(tmp_path / "delta", delta)), "--sis-url", SIS)
    assert done.returncode == 3, done.stderr
    assert f"refused enrollments.csv: class {SIS}/classes/cls-10z9 is in no classes.csv" in (
        done.stderr
    )
    store = open_data(data)
    try:
        assert class_members(store, CLASS_10A1) == sorted(
            learner(u) for u in ("usr-s1", "usr-s3", "usr-s4")
        )
        assert class_members(store, CLASS_10A2) == [learner("usr-s3")]
        group = store.get_definition("group", CLASS_10A1)
        assert group is not None and group["teachers"] == [learner("usr-t1")]
    finally:
        store.close()


def test_a_missing_required_column_is_reported_and_the_rest_still_runs(tmp_path: Path) -> None:
    files = dict(V11)
    files["classes.csv"] = files["classes.csv"].replace(",title,", ",name,", 1)
    export = write_export(tmp_path / "export", files)
    done = connect(tmp_path / "data", "--input", str(export), "--sis-url", SIS)
    assert done.returncode == 3
    assert (
        "refused classes.csv: missing required column 'title'; the header has 'sourcedId', "
        in done.stderr
    )
    assert "classes.csv was not used" in done.stderr
    assert ", stored 4," in done.stderr.splitlines()[-1]  # results do not need classes.csv


def test_national_ids_need_the_deployment_secret(tmp_path: Path) -> None:
    export = write_export(tmp_path / "export", V11)
    done = connect(
        tmp_path / "data", "--input", str(export), "--sis-url", SIS,
        "--national-id-column", "metadata.cccd", secret=None,
    )  # fmt: skip
    assert done.returncode != 0
    assert "LRS_IDENTITY_SECRET" in done.stderr
    assert CCCD_AN not in done.stderr + done.stdout


# --- the pure parts ------------------------------------------------------------------------


def test_a_result_is_a_scored_statement_in_its_class(tmp_path: Path) -> None:
    export = read_export(write_export(tmp_path / "export", V11))
    book = build_gradebook(export, SIS, "vi")
    rows = {row.get("sourcedId"): row for row in export.tables["results"].rows}
    (statement,) = result_statement(book, rows["res-1"])
    assert statement == {
        "id": statement_id(f"oneroster:{SIS}", "res-1"),
        "actor": {
            "objectType": "Agent",
            "name": "An Nguyễn",
            "account": {"homePage": SIS, "name": "usr-s1"},
        },
        "verb": {"id": SCORED, "display": {"en-US": "scored"}},
        "object": {
            "objectType": "Activity",
            "id": f"{SIS}/lineItems/li-15p-1",
            "definition": {
                "type": "http://adlnet.gov/expapi/activities/assessment",
                "name": {"vi": "Kiểm tra 15 phút số 1"},
                "description": {"vi": "Tìm kiếm thông tin"},
            },
        },
        "result": {"score": {"raw": 8.5, "min": 0, "max": 10, "scaled": 0.85}},
        "context": {
            "contextActivities": {
                "grouping": [
                    {
                        "objectType": "Activity",
                        "id": CLASS_10A1,
                        "definition": {
                            "type": "http://adlnet.gov/expapi/activities/course",
                            "name": {"vi": "Tin học 10A1"},
                        },
                    }
                ]
            }
        },
        "timestamp": "2025-09-19T00:00:00.000Z",
    }
    assert result_statement(book, rows["res-4"]) == []  # not submitted: no score, no statement
    (later,) = result_statement(book, rows["res-5"])  # no scoreDate: dateLastModified
    assert later["timestamp"] == "2025-09-20T08:00:00.000Z"


def test_roster_and_deleted_records(tmp_path: Path) -> None:
    files = dict(V11)
    files["classes.csv"] += (
        "cls-old,tobedeleted,2025-08-01T00:00:00Z,Cũ,10,crs-tin10,,scheduled,,org-lqd,as-hk1,,,\n"
    )
    files["enrollments.csv"] += (
        "enr-7,tobedeleted,2025-08-01T00:00:00Z,cls-10a1,org-lqd,usr-s3,student,false,,\n"
        "enr-8,active,2025-08-01T00:00:00Z,cls-old,org-lqd,usr-s3,student,false,,\n"
    )
    roster = build_roster(read_export(write_export(tmp_path / "export", files)), SIS)
    assert roster.deleted == [f"{SIS}/classes/cls-old"]
    assert roster.problems == []
    members = {c["id"]: c["members"] for c in roster.classes}
    assert members[CLASS_10A1] == sorted(learner(u) for u in ("usr-s1", "usr-s2", "usr-s4"))


def test_bad_scores_are_mapping_errors(tmp_path: Path) -> None:
    export = read_export(write_export(tmp_path / "export", V11))
    book = build_gradebook(export, SIS)
    row = export.tables["results"].rows[0]
    bad = type(row)(row.line, {**row.values, "score": "-1"})
    with pytest.raises(MappingError, match="below the line item's resultValueMin 0"):
        result_statement(book, bad)


def test_headers_are_read_leniently() -> None:
    columns, warnings = resolve_headers(
        "users.csv",
        ["\ufeffSourcedID", " given_name ", "prefferedGivenName", "metadata.cccd", "", ""],
        ["sourcedId", "givenName", "preferredGivenName"],
    )
    assert columns == {
        "\ufeffSourcedID": "sourcedId",
        " given_name ": "givenName",
        "prefferedGivenName": "preferredGivenName",
        "metadata.cccd": "metadata.cccd",
    }
    assert warnings == ["users.csv: header 'prefferedGivenName' read as 'preferredGivenName'"]
