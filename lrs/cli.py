"""The `lrs` command line."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence

import orjson

from lrs.config import Settings, load_settings


def _settings(args: argparse.Namespace) -> Settings:
    overrides = {
        name: getattr(args, name, None)
        for name in (
            "host",
            "port",
            "data",
            "store",
            "bus",
            "base_url",
            "default_xapi_version",
            "processors",
        )
    }
    return load_settings(getattr(args, "config", None), **overrides)


def cmd_serve(args: argparse.Namespace) -> int:
    import uvicorn

    from lrs.api.app import create_app

    settings = _settings(args)
    app = create_app(settings)
    print(
        f"LRS on {settings.public_url}/xapi/ (store {settings.store_url}); "
        "create credentials with: lrs credentials create --name NAME --scope all",
        file=sys.stderr,
    )
    uvicorn.run(
        app, host=settings.host, port=settings.port, log_level=args.log_level, access_log=False
    )
    return 0


def cmd_process(args: argparse.Namespace) -> int:
    from consumers.app import run_worker

    settings = _settings(args)
    if not settings.bus.startswith("kafka://"):
        print(
            "error: `lrs process` runs the processors on Kafka: set LRS_BUS=kafka://host:port "
            "(or --bus). In the embedded mode `lrs serve` runs them itself.",
            file=sys.stderr,
        )
        return 2
    print(f"processors on {settings.bus}, store {settings.store_url}", file=sys.stderr)
    run_worker(settings)
    return 0


def cmd_rebuild(args: argparse.Namespace) -> int:
    from rich.progress import BarColumn, Progress, TextColumn

    from consumers.app import REDUCERS
    from consumers.runner import rebuild
    from lrs.storage import open_store

    settings = _settings(args)
    reducers = [r for r in REDUCERS if args.projection in (None, r.name)]
    if not reducers:
        names = ", ".join(r.name for r in REDUCERS)
        print(f"error: no projection {args.projection!r}; choose from {names}", file=sys.stderr)
        return 2
    store = open_store(settings.store_url)
    try:
        for reducer in reducers:
            with Progress(
                TextColumn(f"rebuilding {reducer.name}"),
                BarColumn(),
                TextColumn("{task.completed} statements"),
                TextColumn("{task.fields[rate]}/s"),
            ) as progress:
                task = progress.add_task(reducer.name, total=None, rate="-")

                def advance(n: int, task: int = task) -> None:
                    progress.advance(task, n)
                    speed = progress.tasks[0].speed
                    progress.update(task, rate=f"{speed:,.0f}" if speed else "-")

                done = rebuild(store, reducer, progress=advance)
            print(f"{reducer.name}: replayed {done} statements", file=sys.stderr)
    finally:
        store.close()
    return 0


def cmd_credentials_create(args: argparse.Namespace) -> int:
    from lrs.auth import create_credential
    from lrs.storage import open_store

    settings = _settings(args)
    store = open_store(settings.store_url)
    try:
        new = create_credential(store, args.name, args.scope, args.org)
    except ValueError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    finally:
        store.close()
    if args.json:
        print(
            orjson.dumps(
                {
                    "key": new.credential.key,
                    "secret": new.secret,
                    "scopes": list(new.credential.scopes),
                }
            ).decode()
        )
    else:
        print(
            f"key:    {new.credential.key}\nsecret: {new.secret}\nscopes: {' '.join(new.credential.scopes)}"
        )
        print(
            "Use them as HTTP Basic credentials (user = key, password = secret).", file=sys.stderr
        )
    return 0


def _add_common(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--config", help="TOML file with an [lrs] table of settings")
    parser.add_argument("--data", help="data directory for the embedded store (default ./lrs-data)")
    parser.add_argument(
        "--store", help="store URL: sqlite:///path or mongodb://... (env LRS_STORE)"
    )


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="lrs", description="xAPI learning record store")
    commands = parser.add_subparsers(dest="command", required=True)

    serve = commands.add_parser("serve", help="run the LRS (embedded default: SQLite, no servers)")
    _add_common(serve)
    serve.add_argument("--host", help="address to listen on (default 127.0.0.1)")
    serve.add_argument("--port", type=int, help="port (default 8000)")
    serve.add_argument("--bus", help="event bus: local or kafka://host:port (env LRS_BUS)")
    serve.add_argument("--base-url", dest="base_url", help="public URL of this LRS")
    serve.add_argument(
        "--no-processors",
        dest="processors",
        action="store_false",
        default=None,
        help="do not run the stream processors in this process (scaled out: `lrs process`)",
    )
    serve.add_argument(
        "--default-xapi-version",
        choices=["2.0.0", "1.0.3"],
        help="version named in answers to requests that name none (default 2.0.0)",
    )
    serve.add_argument("--log-level", default="info", choices=["debug", "info", "warning", "error"])
    serve.set_defaults(func=cmd_serve)

    process = commands.add_parser(
        "process", help="run the stream processors as a faust worker (scaled out, Kafka)"
    )
    _add_common(process)
    process.add_argument("--bus", help="kafka://host:port (env LRS_BUS)")
    process.set_defaults(func=cmd_process)

    rebuild = commands.add_parser(
        "rebuild", help="replay the statement log into empty projection storage (profiles, ...)"
    )
    _add_common(rebuild)
    rebuild.add_argument("projection", nargs="?", help="only this projection (default: all)")
    rebuild.set_defaults(func=cmd_rebuild)

    credentials = commands.add_parser("credentials", help="manage API credentials")
    credential_commands = credentials.add_subparsers(dest="action", required=True)
    create = credential_commands.add_parser("create", help="create a key and secret")
    _add_common(create)
    create.add_argument("--name", required=True, help="who the credential is for")
    create.add_argument("--scope", action="append", required=True, help="a scope; repeat for more")
    create.add_argument("--org", help="the organisation the credential belongs to")
    create.add_argument("--json", action="store_true", help="print JSON: key, secret, scopes")
    create.set_defaults(func=cmd_credentials_create)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    return int(args.func(args))


if __name__ == "__main__":
    raise SystemExit(main())
