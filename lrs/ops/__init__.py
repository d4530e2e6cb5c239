"""Operations: every domain decision, made once, above the adapters.

- ingest: validation per xAPI version, 2.0 normalisation, authority, the voiding check and
  refusals, for every entrance (HTTP, Caliper, Kafka inbound, connector sinks);
- statements: which statements of a batch are written (re-sends, conflicts);
- references: voiding across organisations in either arrival order, and StatementRef term
  inheritance, as one batch algorithm over primitive reads (lrs.ports.StatementGraph);
- projections: idempotent contributions and retraction-by-rebuild;
- access_log: how an access-log entry is sealed into the hash chain;
- audit: which reads are logged, pseudonyms, and the chain's verification;
- identity: which learner keys a credential may link into a person, or unlink;
- orgs: which organisation a storing credential belongs to (cached per credentials version);
- erasure: the loop that erases learner keys from every capability over the adapters'
  primitives (lrs.ports.erasure), safe to re-run after a crash.

National-ID pseudonyms (lrs.national_id) are pure rules.

Whom an erasure request reaches, the rosters and person attributes and its access-log
entry are a service above this layer (lrs.erasure_requests); what each statement becomes
is lrs.xapi.redaction's, and the projections are rebuilt by `projections`.

Dependencies point one way (pyproject.toml, [tool.importlinter]): lrs.xapi <- lrs.domain
<- lrs.ports <- lrs.ops <- lrs.adapters <- lrs.storage (the composition). Adapters
call the planners here (`prepare_batch`, `new_statements`, `plan_links`,
`apply_projection_changes`, `seal_access`)
inside their own transactions and write what they return.
"""
