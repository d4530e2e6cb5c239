"""The conformance suite against the scaled-out mode: MongoDB store and Kafka bus.

Starts the test stand-ins (SecantusDB for MongoDB, Tansu for Kafka; both from the `test`
extra), then runs scripts/conformance.py against an `lrs serve` that uses them.

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

from tests.processes import TansuBroker  # noqa: E402
from tests.servers import MongoServer  # noqa: E402


def main() -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--suite", default=os.environ.get("LRS_CONFORMANCE_SUITE"))
    parser.add_argument("--xapi", default="1.0.3", choices=["1.0.3", "2.0.0"])
    parser.add_argument("--log", help="where to write the suite's output")
    args = parser.parse_args()
    work = Path(tempfile.mkdtemp(prefix="lrs-conformance-scaled-"))
    with MongoServer(work / "mongo") as mongo:
        broker = TansuBroker(work)
        broker.start()
        try:
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
                f"store {env['LRS_STORE']} (SecantusDB), bus {env['LRS_BUS']} (Tansu)",
                file=sys.stderr,
            )
            return subprocess.run(command, env=env, cwd=ROOT).returncode
        finally:
            broker.stop()


if __name__ == "__main__":
    raise SystemExit(main())
