"""The access policy's pure parts: whose statements and documents a credential sees."""

from __future__ import annotations

from typing import Any

import pytest

from lrs.access import (
    check_org_name,
    document_namespace,
    readable_orgs,
    statement_scope,
)
from lrs.domain.records import Credential
from lrs.xapi.errors import Forbidden, ValidationError


def credential(key: str, role: str = "platform", org: str | None = "default", audits: tuple[str, ...] = ()) -> Credential:
    return Credential(key, key, ("all",), org, "", role, audits)


EVERYONE = [
    credential("a1", org="org-a"),
    credential("a2", role="school", org="org-a"),
    credential("b1", org="org-b"),
    credential("d1"),
    credential("admin", role="admin", org=None),
]


def test_readable_organisations_by_role() -> None:
    assert readable_orgs(credential("x", org="org-a")) == {"org-a"}
    assert readable_orgs(credential("x", role="school", org="org-a")) == {"org-a"}
    assert readable_orgs(credential("x", role="auditor", org=None, audits=("org-a", "org-b"))) == {"org-a", "org-b"}
    assert readable_orgs(credential("x", role="auditor", org=None)) is None
    assert readable_orgs(credential("x", role="admin", org=None)) is None


def test_an_organisation_sees_the_statements_of_its_credentials() -> None:
    scope = statement_scope(EVERYONE[0], EVERYONE)
    assert (scope.credentials, scope.exclude) == (("a1", "a2"), False)
    assert scope.sees_statement({"authority": {"account": {"name": "a2"}}})
    assert not scope.sees_statement({"authority": {"account": {"name": "b1"}}})
    assert not scope.sees_statement({"authority": {"account": {"name": "moodle"}}})


def test_the_default_organisation_sees_all_but_the_others() -> None:
    """It owns what no credential stored (connectors), and admins' statements."""
    scope = statement_scope(EVERYONE[3], EVERYONE)
    assert (scope.credentials, scope.exclude) == (("a1", "a2", "b1"), True)
    assert scope.sees_statement({"authority": {"account": {"name": "moodle"}}})
    assert scope.sees_statement({"authority": {"account": {"name": "admin"}}})
    assert not scope.sees_statement({"authority": {"account": {"name": "a1"}}})
    assert scope.org_of_key("a1") == "org-a" and scope.org_of_key("moodle") == "default"


def test_one_organisation_deployments_filter_nothing() -> None:
    only = [credential("d1"), credential("d2")]
    assert statement_scope(only[0], only).everything
    assert statement_scope(EVERYONE[4], EVERYONE).everything


def test_an_auditor_sees_its_organisations() -> None:
    auditor = credential("au", role="auditor", org=None, audits=("org-a", "org-b"))
    scope = statement_scope(auditor, EVERYONE)
    assert (scope.credentials, scope.exclude) == (("a1", "a2", "b1"), False)


def test_document_namespaces() -> None:
    assert document_namespace(credential("d1"), None) == ""  # as before organisations
    assert document_namespace(credential("a1", org="org-a"), None) == "org-a\x1e"
    admin = credential("admin", role="admin", org=None)
    assert document_namespace(admin, None) == ""
    assert document_namespace(admin, "org-b") == "org-b\x1e"
    auditor = credential("au", role="auditor", org=None, audits=("org-a",))
    assert document_namespace(auditor, "org-a") == "org-a\x1e"
    with pytest.raises(Forbidden):
        document_namespace(auditor, "org-b")
    with pytest.raises(ValidationError):
        document_namespace(credential("a1", org="org-a"), "org-b")


@pytest.mark.parametrize("name", ["org-a", "School_1.north", "a"])
def test_good_organisation_names(name: str) -> None:
    assert check_org_name(name) == name


@pytest.mark.parametrize("name", ["", "-a", "a b", "a\x1eb", "mbox:x", "x" * 65, "é"])
def test_bad_organisation_names(name: str) -> None:
    with pytest.raises(ValueError):
        check_org_name(name)


# who is an administrator: one rule, used by every /api/v1 permission ------------------------
def _credential(role: str, *scopes: str) -> Credential:
    return Credential("k", "n", tuple(scopes), None, "h", role)


def test_an_administrator_has_the_admin_role_or_the_admin_scope() -> None:
    from lrs.access import is_admin, is_auditor

    assert is_admin(_credential("admin", "all"))
    assert is_admin(_credential("school", "admin"))
    assert not is_admin(_credential("platform", "all"))
    assert is_auditor(_credential("auditor", "statements/read"))
    assert is_auditor(_credential("school", "auditor"))
    assert not is_auditor(_credential("admin", "admin"))


@pytest.mark.parametrize(
    ("credential", "links", "erases", "reads_log"),
    [
        (("admin", "admin"), True, True, True),
        (("school", "admin"), True, True, True),
        (("platform", "all"), True, False, False),
        (("auditor", "all"), False, False, True),
        (("auditor", "auditor"), False, False, True),
        (("platform", "statements/read"), False, False, False),
    ],
)
def test_query_api_permissions_follow_the_one_admin_rule(
    credential: tuple[str, str], links: bool, erases: bool, reads_log: bool
) -> None:
    from lrs.api.v1.permissions import erase_data, link_identities, read_access_log

    def allowed(rule: Any) -> bool:
        try:
            rule(_credential(*credential))
        except Forbidden:
            return False
        return True

    assert (allowed(link_identities), allowed(erase_data), allowed(read_access_log)) == (
        links, erases, reads_log
    )
