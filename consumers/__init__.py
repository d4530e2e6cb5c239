"""Stream processors: pure reducers (consumers.reducers), the runtimes that feed them
(consumers.runtime), and the Kafka ingest of connectors' statements (consumers.ingest)."""
