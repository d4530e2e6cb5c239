"""Operations: every domain decision, made once, above the adapters.

- ingest: validation per xAPI version, 2.0 normalisation, authority, the voiding check and
  refusals, for every entrance (HTTP, Kafka inbound, connector sinks);
- references: voiding across organisations in either arrival order, and StatementRef term
  inheritance, as one batch algorithm over primitive reads (lrs.ports.StatementGraph);
- projections: idempotent contributions and retraction-by-rebuild;
- access_log: how an access-log entry is sealed into the hash chain;
- orgs: which organisation a storing credential belongs to (cached per credentials version).

Erasure (lrs.erasure), identity links (lrs.identity) and the audit reads (lrs.audit) sit
beside this package and use the same ports.

Dependencies point one way: lrs.domain and lrs.xapi <- lrs.ops <- lrs.adapters. Adapters
call the pure planners here (`plan_links`, `apply_projection_changes`, `seal_access`)
inside their own transactions and write what they return.
"""
