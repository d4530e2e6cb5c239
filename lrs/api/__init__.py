"""The HTTP API: xAPI under /xapi/, the query API under /api/v1/, health and metrics."""
