"""The conformance suite against the scaled-out mode: MongoDB store and Kafka bus.

Starts the test servers (SecantusDB for MongoDB, from the `test` extra; Apache Kafka from
Maven Central's jars, tests/servers/kafka.py), then runs scripts/conformance.py against an
`lrs serve` that uses them.

    python scripts/conformance_scaled.py --suite /path/to/suite --xapi 1.0.3
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from tests.servers import KafkaBroker, MongoServer  # noqa: E402


def main() -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--suite", default=os.environ.get("LRS_CONFORMANCE_SUITE"))
    parser.add_argument("--xapi", default="1.0.3", choices=["1.0.3", "2.0.0"])
    parser.add_argument("--log", help="where to write the suite's output")
    args = parser.parse_args()
    work = Path(tempfile.mkdtemp(prefix="lrs-conformance-scaled-"))
    with MongoServer(work / "mongo") as mongo, KafkaBroker(work / "kafka") as broker:
        env = dict(
            os.environ,
            LRS_STORE=mongo.url("conformance"),
            LRS_BUS=f"kafka://{broker.bootstrap}",
        )
        command = [
            sys.executable,
            str(ROOT / "scripts" / "conformance.py"),
            "--xapi",
            args.xapi,
        ]
        if args.suite:
            command += ["--suite", args.suite]
        if args.log:
            command += ["--log", args.log]
        print(
            f"store {env['LRS_STORE']} (SecantusDB), bus {env['LRS_BUS']} (Apache Kafka)",
            file=sys.stderr,
        )
        return subprocess.run(command, env=env, cwd=ROOT).returncode


if __name__ == "__main__":
    raise SystemExit(main())
