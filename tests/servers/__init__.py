"""Real servers for the tests, each a child process on free loopback ports, stopped by PID.

- `KafkaBroker`: Apache Kafka 3.9.1 (KRaft) from Maven Central's jars (kafka.py, pom.xml).
- `MongoServer`: SecantusDB, a MongoDB-wire server from PyPI (mongo.py; test-only, GPL).
- `FerretDBServer`: FerretDB 1.x on SQLite, built from its Go module (ferretdb.py); what it and
  SecantusDB lack of MongoDB 7 is in STANDINS.md.
- `sql_url`: PostgreSQL and MariaDB, installed and started by scripts/test-servers (sql.py).

`python -m tests.servers kafka start|stop DIR` runs the one broker a whole test run shares.
"""

from tests.servers.ferretdb import FerretDBServer, ferretdb_binary
from tests.servers.kafka import KafkaBroker
from tests.servers.mongo import MongoServer
from tests.servers.process import ServerUnavailable, free_port
from tests.servers.sql import sql_url

__all__ = [
    "FerretDBServer",
    "KafkaBroker",
    "MongoServer",
    "ServerUnavailable",
    "ferretdb_binary",
    "free_port",
    "sql_url",
]
