"""Erasing learner keys from every capability of a store, decided once for every adapter.

The loop: find a batch of the statements that name the keys, decide per statement
(lrs.xapi.redaction: delete, pseudonymise, or only drop the keys' index terms), and have
the adapter apply the batch; then settle what the batches owe (projection contributions
and states, attachments only deleted statements used), then the documents, the copies
forwarding keeps in its dead letters (made what the statements became), the persons'
stored competency aggregate rows (taken out of the group counts), agent names and
identity links filed under the keys. Adapters execute primitives (lrs.ports.erasure).

A crash at any point loses nothing that a second run cannot finish: each batch is applied
in one transaction together with the record of what it owes (`Redaction.owed`), the
settling steps are idempotent and read those records (an interrupted run's too), and the
records are dropped only after every step that needs them is done. Statements are changed
before the projections, so a processor that folds a late batch meanwhile only adds
contributions that the projection step then removes (or that the tombstones refuse).
"""

from __future__ import annotations

import uuid
from collections.abc import Iterable
from typing import Any

from lrs.domain.records import ErasureReport
from lrs.ops.forwarding import settle_dead_letters
from lrs.ports.erasure import KEEP, RETRACT, Erasure, Redaction
from lrs.xapi.redaction import (
    AGENT_DOCUMENT_KINDS,
    attachment_hashes,
    document_agent,
    erase_from_statement,
)

BATCH = 500  # statements per transaction: a person may have many


class ErasureStalled(RuntimeError):
    """The store keeps returning statements the loop has handled: an adapter bug, never
    something to loop on forever."""


def plan_redaction(statements: list[dict[str, Any]], keys: frozenset[str]) -> Redaction:
    """What one batch becomes (pure)."""
    redaction = Redaction(uuid.uuid4().hex)
    orphans: set[str] = set()
    for statement in statements:
        kept = erase_from_statement(statement, keys)
        if kept is None:
            redaction.deleted.append(statement["id"])
            orphans |= attachment_hashes(statement)
        elif kept is not statement:
            redaction.rewritten[statement["id"]] = kept
        else:
            redaction.untouched.append(statement["id"])
    redaction.attachments = sorted(orphans)
    return redaction


def erase_keys(
    store: Erasure, keys: list[str], reducers: list[Any], persons: Iterable[str] = ()
) -> ErasureReport:
    """Statements filed under `keys` are deleted, others naming them pseudonymised;
    attachments only deleted statements used, their documents, agent names, identity
    links, and projection contributions and states (rebuilt with `reducers`) go too.
    Deleted statements stay retracted in every projection, so a replay or a late batch of
    a processor cannot bring them back. Run it again to finish an interrupted erasure.
    `keys` are complete (lrs.xapi.redaction.erasure_keys adds the other spellings);
    `persons`: the persons they are linked to, whose aggregate rows are filed under the
    person (a key nobody is linked to has its own row)."""
    erased = frozenset(keys)
    ordered = sorted(erased)
    report = ErasureReport()
    handled: set[str] = set()
    while batch := store.statements_naming(ordered, BATCH):
        ids = {statement["id"] for statement in batch}
        if ids <= handled:
            raise ErasureStalled(f"{len(ids)} statements still name the erased keys")
        handled |= ids
        redaction = plan_redaction(batch, erased)
        deleted, rewritten = store.redact_statements(ordered, redaction)
        report.statements_deleted += deleted
        report.statements_pseudonymised += rewritten

    owed = store.redactions_owed()
    report.add(settle_owed(store, reducers, owed))

    documents = {
        doc
        for key in ordered
        for doc in store.documents_naming(AGENT_DOCUMENT_KINDS, key)
        if document_agent(doc.kind, doc.scope) in erased
    }
    report.documents_deleted = store.erase_documents(
        sorted(documents, key=lambda d: (d.kind, d.scope, d.doc_id))
    )
    report.dead_letters_deleted, report.dead_letters_pseudonymised = settle_dead_letters(store)
    # before the links go, as the documents: a run interrupted here is finished by a
    # request for the person, which needs their links to find the keys again
    report.aggregate_rows_deleted = store.erase_aggregate_rows(sorted(erased | set(persons)))
    names, report.identity_links_deleted = store.forget_keys(ordered)
    report.agent_names_deleted += names
    store.settle_redactions([r.id for r in owed])
    store.purge_erased()
    return report


def settle_owed(store: Erasure, reducers: list[Any], owed: list[Redaction]) -> ErasureReport:
    """Do what `owed` redactions (any operation's: each record says how) still owe: their
    statements leave or are folded again into every projection of `reducers`, attachments
    only their deleted statements used go, and names no statement carries any more. The
    caller forgets the records (`settle_redactions`) once nothing else needs them."""
    report = ErasureReport()
    deleted: list[str] = []
    rewritten: dict[str, dict[str, Any]] = {}
    for redaction in owed:
        if redaction.projections == KEEP:
            continue
        deleted += redaction.deleted
        if redaction.projections == RETRACT:
            deleted += list(redaction.rewritten)
        else:
            rewritten.update(redaction.rewritten)
    if deleted or rewritten:
        for reducer in reducers:
            report.add(store.erase_from_projection(reducer, deleted, rewritten))
    attachments = sorted({sha2 for r in owed for sha2 in r.attachments})
    report.attachments_deleted = store.delete_unused_attachments(attachments)
    names = sorted({key for r in owed for key in r.names})
    if names:
        report.agent_names_deleted = store.forget_keys(names, unless_named=True)[0]
    return report
