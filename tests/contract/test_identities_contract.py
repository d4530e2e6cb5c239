"""The identities port: learner keys linked into persons, on every adapter."""

from __future__ import annotations

from lrs.ports import Store


def test_identity_links_join_keys_into_one_person(store: Store) -> None:
    lms, school, eid = (
        "account:https://lms|7",
        "account:https://sis|A12",
        "account:https://vneid.gov.vn|9f",
    )
    store.link_keys("person-1", [lms, school])
    store.link_keys("person-1", [eid])
    assert store.keys_of("person-1") == sorted([lms, school, eid])
    assert store.person_of(school) == "person-1"
    store.link_keys("person-2", [school])  # a key belongs to one person: linking moves it
    assert store.person_of(school) == "person-2"
    assert store.keys_of("person-1") == sorted([lms, eid])
    assert store.unlink_key(lms) == "person-1"
    assert store.unlink_key(lms) is None
    assert store.person_of(lms) is None
    assert store.keys_of("nobody") == []
