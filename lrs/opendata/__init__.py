"""Open data: aggregates released to the public only through disclosure control."""
