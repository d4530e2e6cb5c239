"""The credentials port: every adapter keeps credentials alike."""

from __future__ import annotations

from lrs.domain.records import Credential
from lrs.ports import Store


def test_credentials_round_trip(store: Store) -> None:
    credential = Credential(
        "key1", "Moodle", ("statements/write", "state"), "school-1", "sha256$s$h",
        created="2026-01-01T00:00:00.000Z",
    )
    store.save_credential(credential)
    assert store.get_credential("key1") == credential
    assert store.get_credential("missing") is None
    auditor = Credential(
        "key2", "Inspector", ("auditor",), None, "sha256$s$h", "auditor", ("school-1", "school-2"),
        created="2026-01-01T00:00:00.000Z",
    )
    store.save_credential(auditor)
    assert store.get_credential("key2") == auditor


def test_life_cycle_fields_round_trip(store: Store) -> None:
    credential = Credential(
        "key3",
        "LMS",
        ("all",),
        "school-1",
        "sha256$s$new",
        created="2026-01-01T00:00:00.000Z",
        expires="2027-01-01T00:00:00.000Z",
        revoked="2026-06-01T00:00:00.000Z",
        previous_hash="sha256$s$old",
        previous_until="2026-02-01T00:00:00.000Z",
        last_used="2026-05-01T00:00:00.000Z",
    )
    store.save_credential(credential)
    assert store.get_credential("key3") == credential
    assert store.list_credentials() == [credential]


def test_created_is_set_when_empty(store: Store) -> None:
    store.save_credential(Credential("key4", "LMS", ("all",), None, "sha256$s$h"))
    found = store.get_credential("key4")
    assert found is not None and found.created.endswith("Z") and found.expires is None


def test_every_save_moves_the_version_even_of_the_newest_credential(store: Store) -> None:
    store.save_credential(Credential("a", "A", ("all",), None, "sha256$s$h"))
    store.save_credential(Credential("b", "B", ("all",), None, "sha256$s$h"))
    before = store.credentials_version()
    # a revocation re-saves the row; the newest one too must move the version
    store.save_credential(
        Credential("b", "B", ("all",), None, "sha256$s$h", revoked="2026-01-01T00:00:00.000Z")
    )
    assert store.credentials_version() != before


def test_touch_records_the_latest_use_and_moves_no_version(store: Store) -> None:
    store.save_credential(Credential("t", "T", ("all",), None, "sha256$s$h"))
    version = store.credentials_version()
    store.touch_credential("t", "2026-03-01T00:00:00.000Z")
    store.touch_credential("t", "2026-02-01T00:00:00.000Z")  # an older use, written late
    found = store.get_credential("t")
    assert found is not None and found.last_used == "2026-03-01T00:00:00.000Z"
    assert store.credentials_version() == version
    store.touch_credential("missing", "2026-03-01T00:00:00.000Z")  # no row: nothing happens
    assert store.get_credential("missing") is None
