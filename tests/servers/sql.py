"""PostgreSQL and MariaDB for the Moodle database tests.

`./scripts/test` installs both from Debian's packages and starts them on loopback
(scripts/test-servers); these are the URLs it creates, overridable with TEST_POSTGRESQL_URL
and TEST_MYSQL_URL to point the tests at other servers.
"""

from __future__ import annotations

import os

from tests.servers.process import ServerUnavailable

POSTGRESQL_URL = "postgresql://lrs_test:lrs_test@127.0.0.1:5432/lrs_test"
MYSQL_URL = "mysql://lrs_test:lrs_test@127.0.0.1:3306/lrs_test"


def sql_url(dialect: str) -> str:
    """The URL of a running server of `dialect` ("postgresql" or "mysql"), or ServerUnavailable."""
    from connectors.moodle.readers import connect

    url = os.environ.get(f"TEST_{dialect.upper()}_URL") or {
        "postgresql": POSTGRESQL_URL,
        "mysql": MYSQL_URL,
    }[dialect]
    try:
        connection, _ = connect(url)
    except Exception as exc:
        raise ServerUnavailable(
            f"{dialect} is not answering at {url} ({exc}): ./scripts/test installs and starts "
            "it (scripts/test-servers up); ./scripts/test --no-servers runs without it"
        ) from exc
    connection.close()
    return url
