"""The credentials port: every adapter keeps credentials alike."""

from __future__ import annotations

from lrs.domain.records import Credential
from lrs.ports import Store


def test_credentials_round_trip(store: Store) -> None:
    credential = Credential(
        "key1", "Moodle", ("statements/write", "state"), "school-1", "sha256$s$h"
    )
    store.save_credential(credential)
    assert store.get_credential("key1") == credential
    assert store.get_credential("missing") is None
    auditor = Credential(
        "key2", "Inspector", ("auditor",), None, "sha256$s$h", "auditor", ("school-1", "school-2")
    )
    store.save_credential(auditor)
    assert store.get_credential("key2") == auditor
