"""The `lrs` command line."""

from __future__ import annotations

import argparse
import os
import sqlite3
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import IO, TYPE_CHECKING, Any

import orjson

from lrs import forwarding_cli, retention_cli
from lrs.config import SERVE_FLAGS, Settings, SettingsError, load_settings, value_type
from lrs.xapi.errors import XAPIError

if TYPE_CHECKING:
    from lrs.auth import NewCredential
    from lrs.demo import Summary
    from lrs.ports import Store


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
            "access_log",
            "log_format",
            *SERVE_FLAGS,
        )
    }
    flags = {name: "--" + name.replace("_", "-") for name in overrides}
    flags["processors"] = "--no-processors"
    return load_settings(
        getattr(args, "config", None), warn=_warn, flags=flags, **overrides
    )


def _warn(message: str) -> None:
    print(f"warning: {message}", file=sys.stderr)


class CommandError(Exception):
    """Something the user can put right, said in one message: exit 2 for how the command
    was called (a flag, a path given), 1 for what it met (a read-only directory, a lock)."""

    def __init__(self, message: str, status: int = 1) -> None:
        super().__init__(message)
        self.status = status


def sqlite_path(store_url: str) -> Path | None:
    if not store_url.startswith("sqlite://"):
        return None
    return Path("/" + store_url.removeprefix("sqlite://").lstrip("/"))


def check_data(settings: Settings, args: argparse.Namespace, *, writes: bool) -> bool:
    """Whether the embedded store must be opened read-only; refuses a store that is not there.

    A data directory is made only by `lrs serve` (its first run) or a command given --init:
    a mistyped --data must not quietly become a new, empty store that `lrs audit verify`
    then calls intact. A directory nobody may write serves the commands that only read.
    """
    path = sqlite_path(settings.store_url)
    if path is None:
        return False
    if not path.exists():
        if getattr(args, "init", False):
            return False
        where = settings.store or f"--data {settings.data}"
        raise CommandError(
            f"no LRS store at {path} ({where}): check --data, LRS_DATA or LRS_STORE; to start "
            "a new, empty store there, add --init (`lrs serve` creates it on its first run)",
            2,
        )
    if os.access(path.parent, os.W_OK) and os.access(path, os.W_OK):
        return False
    if writes:
        raise CommandError(
            f"the data directory {path.parent} is read-only, and `lrs {args.command}` writes "
            "to the store: run it where the directory is writable (the commands that only "
            "read, such as `lrs audit verify` and `lrs results export`, work here)"
        )
    return True


def warn_open_permissions(path: Path) -> None:
    """The data directory holds personal data and the access log's pseudonymisation secret:
    say so when others than its owner may read it (created by us, it is 0700 and 0600)."""
    loose = [p for p in (path.parent, *path.parent.glob(path.stem + "*")) if p.stat().st_mode & 0o077]
    if loose:
        _warn(
            f"{loose[0]} can be read by other users; it holds personal data: "
            f"chmod -R go-rwx {path.parent}"
        )


def hold_data_lock(path: Path) -> IO[str]:
    """One `lrs serve` per embedded data directory: a second one would run a second set of
    processors and a second statement writer over the same files. flock is released by the
    kernel when the process ends, however it ends, so a crash leaves no stale lock."""
    import fcntl

    handle = open(path.with_name(path.stem + ".lock"), "a+")  # noqa: SIM115 (held for life)
    try:
        fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        handle.seek(0)
        holder = handle.read().strip() or "another process"
        handle.close()
        raise CommandError(
            f"another `lrs serve` ({holder}) already serves {path.parent}: stop it first, or "
            "give this one its own --data (several servers on one store need MongoDB, "
            "see deploy/README.md)"
        ) from None
    handle.seek(0)
    handle.truncate()
    handle.write(f"pid {os.getpid()}\n")
    handle.flush()
    return handle


SERVE_SWITCH_INTERVAL = 0.001  # seconds; see cmd_serve


def cmd_serve(args: argparse.Namespace) -> int:
    import uvicorn

    from lrs.api.redact import redact, uvicorn_log_config
    from lrs.api.timeouts import header_timeout_protocol
    from lrs.web.app import create_app

    settings = _settings(args)
    path = sqlite_path(settings.store_url)
    lock = None
    if path is not None:
        if path.exists():
            check_data(settings, args, writes=True)
            warn_open_permissions(path)
        else:
            print(f"first run: creating a new store in {path.parent}", file=sys.stderr)
            path.parent.mkdir(parents=True, exist_ok=True)
        lock = hold_data_lock(path)
    # The statement writer releases the GIL for every SQLite call and must get it back from
    # the event loop, which parses and validates the next bodies in stretches of several
    # milliseconds; with CPython's default 5 ms switch interval the writer waited about as
    # long as it worked (benchmarks/MEASUREMENTS.md).
    sys.setswitchinterval(SERVE_SWITCH_INTERVAL)
    app = create_app(settings)
    print(
        f"LRS on {settings.public_url}/xapi/ (store {redact(settings.store_url)}); "
        "create credentials with: lrs credentials create --name NAME --scope all",
        file=sys.stderr,
    )
    uvicorn.run(
        app,
        host=settings.host,
        port=settings.port,
        log_level=args.log_level,
        # redacts credentials in every line, the access log's included
        log_config=uvicorn_log_config(args.log_level, json=settings.log_format == "json"),
        access_log=settings.access_log,
        http=header_timeout_protocol(settings.header_timeout),
        timeout_keep_alive=settings.keep_alive_timeout,  # type: ignore[arg-type]
    )
    if lock is not None:
        lock.close()
    return 0


def cmd_process(args: argparse.Namespace) -> int:
    from consumers.runtime.faust_app import run_worker

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
    from rich.progress import BarColumn, Progress, TaskID, TextColumn

    from consumers.reducers.enabled import reducers as all_reducers
    from consumers.runtime.local import rebuild

    store = _open(args)
    if args.projection == "aggregates":
        from lrs.competency.aggregates import rebuild_aggregates

        try:  # every person's row again from the evidence and the rosters
            print(f"aggregates: {rebuild_aggregates(store):,} persons placed", file=sys.stderr)
        finally:
            store.close()
        return 0
    known = all_reducers(store)
    reducers = [r for r in known if args.projection in (None, r.name)]
    if not reducers:
        names = ", ".join(r.name for r in known)
        print(f"error: no projection {args.projection!r}; choose from {names}", file=sys.stderr)
        store.close()
        return 2
    try:
        for reducer in reducers:
            with Progress(
                TextColumn(f"rebuilding {reducer.name}"),
                BarColumn(),
                TextColumn("{task.completed} statements"),
                TextColumn("{task.fields[rate]}/s"),
            ) as progress:
                task = progress.add_task(reducer.name, total=None, rate="-")

                def advance(n: int, task: TaskID = task) -> None:
                    progress.advance(task, n)
                    speed = progress.tasks[0].speed
                    progress.update(task, rate=f"{speed:,.0f}" if speed else "-")

                done = rebuild(store, reducer, progress=advance)
            print(f"{reducer.name}: replayed {done} statements", file=sys.stderr)
            if reducer.name == "competencies":  # the stored aggregates follow the status
                from lrs.competency.aggregates import rebuild_aggregates

                print(f"aggregates: {rebuild_aggregates(store):,} persons placed", file=sys.stderr)
    finally:
        store.close()
    return 0


def _open(args: argparse.Namespace, *, writes: bool = True, create: bool = False) -> Store:
    """The store the settings name; `writes=False` for commands that only read (they also
    run on a read-only data directory), `create` for those that make a store (`lrs demo`)."""
    from lrs.storage import open_store

    settings = _settings(args)
    if create:
        args.init = True
    read_only = check_data(settings, args, writes=writes)
    return open_store(settings.store_url, read_only=read_only)


def _read_json(path: str) -> Any:
    try:
        with open(path, "rb") as handle:
            return orjson.loads(handle.read())
    except OSError as exc:
        raise SystemExit(f"error: cannot read {path}: {exc.strerror}") from None
    except orjson.JSONDecodeError as exc:
        raise SystemExit(f"error: {path} is not JSON: {exc}") from None


def _fail(exc: XAPIError) -> int:
    """A refused input is the caller's to fix (2); an unreachable store is not (1)."""
    from lrs.domain.errors import StoreUnavailable

    if isinstance(exc, StoreUnavailable):
        print(f"error: the store is not reachable: {exc.message}; check LRS_STORE/--store and "
              "that the database is running", file=sys.stderr)
        return 1
    where = f" (at {exc.field})" if exc.field else ""
    print(f"error: {exc.message}{where}", file=sys.stderr)
    return 2


def cmd_frameworks(args: argparse.Namespace) -> int:
    from lrs.competency.case import import_case
    from lrs.competency.registry import find_framework, frameworks, import_framework

    store = _open(args, writes=args.action == "import")
    try:
        if args.action == "list":
            for framework in frameworks(store).values():
                print(
                    f"{framework.id}  {framework.title.text('en')}  "
                    f"({len(framework.areas)} areas, {len(framework.competences)} competences, "
                    f"{len(framework.levels)} levels)"
                )
        elif args.action == "show":
            found = find_framework(store, args.id)
            if found is None:
                print(
                    f"error: no framework {args.id!r}; see `lrs frameworks list`", file=sys.stderr
                )
                return 2
            print(orjson.dumps(found.as_dict(), option=orjson.OPT_INDENT_2).decode())
        else:
            data = _read_json(args.file)
            is_case = isinstance(data, dict) and ("CFDocument" in data or "CFPackage" in data)
            if args.case or is_case:
                data = import_case(data)
            framework = import_framework(store, data)
            print(f"imported {framework.id}: {len(framework.competences)} competences")
    except XAPIError as exc:
        return _fail(exc)
    finally:
        store.close()
    return 0


def cmd_alignments(args: argparse.Namespace) -> int:
    from consumers.reducers.enabled import reducers as all_reducers
    from lrs.competency.rebuilds import recompute
    from lrs.competency.registry import ALIGNMENT, import_rules

    store = _open(args, writes=args.action != "list")
    try:
        if args.action == "list":
            for data in store.list_definitions(ALIGNMENT):
                print(f"{data['id']}  framework {data['framework']}  {len(data['rules'])} rules")
            return 0
        data = _read_json(args.file)
        named = isinstance(data, dict) and isinstance(data.get("id"), str)
        previous = store.get_definition(ALIGNMENT, data["id"]) if named else None
        ruleset = import_rules(store, data)
        print(f"imported rule set {ruleset.id}: {len(ruleset.rules)} rules for {ruleset.framework}")
        if args.no_rebuild:
            print(
                "statements already processed keep their old evidence until"
                " `lrs rebuild competencies`"
            )
            return 0
        # only the statements a changed rule matches (old or new version), their learners
        reducer = next(r for r in all_reducers(store) if r.name == "competencies")
        done = recompute(store, reducer, previous, data)
        print(
            f"recomputed: {done.rules} changed rules, {done.statements} of {done.scanned}"
            f" statements, {done.learners} learners ({done.keys} states),"
            f" {done.persons} aggregate rows",
            file=sys.stderr,
        )
    except XAPIError as exc:
        return _fail(exc)
    finally:
        store.close()
    return 0


def cmd_identity(args: argparse.Namespace) -> int:
    import os

    from lrs.national_id import DEFAULT_HOME_PAGE, pseudonymise
    from lrs.ops import identity
    from lrs.xapi.errors import NotFound

    if args.action == "pseudonymise":
        secret = os.environ.get("LRS_IDENTITY_SECRET", "")
        if not secret:
            print(
                "error: set LRS_IDENTITY_SECRET to the deployment secret (the same everywhere "
                "accounts must match; keep it out of version control)",
                file=sys.stderr,
            )
            return 2
        try:
            account = pseudonymise(
                args.number, secret.encode(), args.home_page or DEFAULT_HOME_PAGE
            )
        except XAPIError as exc:
            return _fail(exc)
        print(orjson.dumps({"objectType": "Agent", "account": account}).decode())
        return 0
    store = _open(args, writes=args.action != "show")
    try:
        if args.action == "link":
            try:
                identity.link(store, args.person, args.keys)
            except XAPIError as exc:
                return _fail(exc)
        elif args.action == "unlink":
            try:
                former = identity.unlink(store, args.key)
            except NotFound:
                print(f"error: {args.key} is not linked to anyone", file=sys.stderr)
                return 2
            print(f"unlinked {args.key} from {former}")
            return 0
        person = args.person
        keys = store.keys_of(person)
        if not keys:
            print(f"error: no person {person!r}", file=sys.stderr)
            return 2
        print(orjson.dumps({"person": person, "keys": keys}).decode())
    finally:
        store.close()
    return 0


def cmd_connect(args: argparse.Namespace) -> int:
    from connectors.command import connect

    settings = _settings(args)
    if getattr(args, "to", None) is None and not getattr(args, "dry_run", False):
        check_data(settings, args, writes=True)  # statements go into the configured store
    return connect(
        args.connector, args, Path(settings.data), settings.store_url, settings.public_url,
        settings.kafka_topic_prefix,
    )


def _print_new(new: NewCredential, as_json: bool) -> None:
    from lrs.readmodels.credentials import new_credential_view

    if as_json:
        print(orjson.dumps(new_credential_view(new.credential, new.secret)).decode())
        return
    credential = new.credential
    print(
        f"key:    {credential.key}\nsecret: {new.secret}\n"
        f"scopes: {' '.join(credential.scopes)}\n"
        f"role:   {credential.role}\norg:    {credential.org or '-'}"
    )
    if credential.expires:
        print(f"expires: {credential.expires}")
    if credential.previous_until:
        print(f"the old secret works until {credential.previous_until}")
    print("Use them as HTTP Basic credentials (user = key, password = secret).", file=sys.stderr)


def cmd_credentials_create(args: argparse.Namespace) -> int:
    from lrs.auth import create_credential, parse_expiry

    expires = parse_expiry(args.expires) if args.expires else None
    store = _open(args)
    try:
        new = create_credential(
            store,
            args.name,
            args.scope,
            args.org,
            role=args.role,
            audits=args.audits or (),
            expires=expires,
        )
    except ValueError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    finally:
        store.close()
    _print_new(new, args.json)
    return 0


def cmd_credentials(args: argparse.Namespace) -> int:
    """list, show, revoke, rotate: the life of a credential after `create`."""
    from lrs.auth import parse_period, revoke_credential, rotate_credential
    from lrs.readmodels.credentials import credential_view

    grace = parse_period(args.grace, "--grace") if args.action == "rotate" else None
    store = _open(args, writes=args.action in ("revoke", "rotate"))
    try:
        if args.action == "list":
            views = [credential_view(c) for c in store.list_credentials()]
            if args.json:
                print(orjson.dumps(views).decode())
                return 0
            for view in views:
                state = (
                    f"revoked {view['revoked']}"
                    if view["revoked"]
                    else f"expires {view['expires']}" if view["expires"] else "active"
                )
                print(
                    f"{view['key']}  {view['name']}  role={view['role']} org={view['org'] or '-'} "
                    f"scopes={','.join(view['scopes'])}  {state}  "
                    f"last used {view['last_used'] or 'never'}"
                )
        elif args.action == "show":
            found = store.get_credential(args.key)
            if found is None:
                print(f"error: no credential {args.key!r}; see `lrs credentials list`", file=sys.stderr)
                return 2
            print(orjson.dumps(credential_view(found), option=orjson.OPT_INDENT_2).decode())
        elif args.action == "revoke":
            revoked = revoke_credential(store, args.key)
            print(f"revoked {revoked.key} ({revoked.name}) at {revoked.revoked}: every server "
                  "refuses it from its next request")
        else:
            assert grace is not None
            _print_new(rotate_credential(store, args.key, grace), args.json)
    except XAPIError as exc:
        return _fail(exc)
    finally:
        store.close()
    return 0


def cmd_audit(args: argparse.Namespace) -> int:
    """`lrs audit verify`: check the whole access log chain; `lrs audit head`: print the head
    to note elsewhere (an anchor for `verify --anchor`)."""
    from lrs.domain.records import AccessHead
    from lrs.ops.audit import verify

    store = _open(args, writes=False)
    try:
        head = store.access_head()
        if args.action == "head":
            print("-" if head is None else f"{head.seq}:{head.hash}")
            return 0
        anchor = None
        if args.anchor:
            seq, _, digest = args.anchor.partition(":")
            if not (seq.isdigit() and len(digest) == 64):
                print("error: --anchor is SEQ:HASH, as `lrs audit head` prints it", file=sys.stderr)
                return 2
            anchor = AccessHead(int(seq), digest)
        checked, problem = verify(store, anchor)
    finally:
        store.close()
    if problem is not None:
        print(f"access log TAMPERED: {problem.message} ({problem.kind}, entry {problem.seq}; "
              f"{checked} entries read)")
        return 1
    where = "empty" if head is None else f"head {head.seq}:{head.hash}"
    print(f"access log intact: {checked} entries, {where}")
    return 0


def cmd_erase(args: argparse.Namespace) -> int:
    """Erase a person (or the person a learner key or agent belongs to) everywhere."""
    import getpass

    from consumers.reducers.enabled import reducers
    from lrs.domain.records import Credential
    from lrs.erasure_requests import erase, keys_to_erase
    from lrs.xapi.agent_keys import agent_key, check_key

    try:
        keys: list[str] = [check_key(k, "--key") for k in args.key or []]
    except XAPIError as exc:
        return _fail(exc)
    for text in args.agent or []:
        try:
            key = agent_key(orjson.loads(text))
        except orjson.JSONDecodeError:
            key = None
        if key is None:
            print(f"error: --agent {text!r} is not an identified xAPI agent as JSON", file=sys.stderr)
            return 2
        keys.append(key)
    if bool(args.person) == bool(keys):
        print("error: give --person, or --key/--agent", file=sys.stderr)
        return 2
    operator = Credential("cli", f"lrs erase ({getpass.getuser()})", ("admin",), role="admin")
    store = _open(args, writes=not args.dry_run)
    try:
        _, found = keys_to_erase(store, args.person, keys)
        what = f"person {args.person}" if args.person else "the person of " + ", ".join(keys)
        if args.dry_run:
            print(
                orjson.dumps({"dry_run": True, "subject": what, "keys": sorted(found)}).decode()
            )
            return 0
        if not args.yes:
            _confirm(
                f"erase {what}: {len(found)} learner key(s) ({', '.join(sorted(found))}), their "
                "statements, documents and profiles, for good?"
            )
        done = erase(store, operator, person=args.person, keys=keys, reducers=reducers(store))
    except XAPIError as exc:
        return _fail(exc)
    finally:
        store.close()
    print(orjson.dumps(done.as_dict()).decode())
    return 0


def _confirm(question: str) -> None:
    """Ask on the terminal; without one, refuse: an erasure is not undone."""
    if not sys.stdin.isatty():
        raise CommandError(
            "lrs erase asks before it erases and there is no terminal to ask on: add --yes "
            "(or --dry-run to see what it would erase)",
            2,
        )
    print(question, file=sys.stderr)
    answer = input("type yes to erase: ")
    if answer.strip().lower() != "yes":
        raise CommandError("nothing erased", 1)


def _add_common(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--config", help="TOML file with an [lrs] table of settings")
    parser.add_argument("--data", help="data directory for the embedded store (default ./lrs-data)")
    parser.add_argument(
        "--store", help="store URL: sqlite:///path or mongodb://... (env LRS_STORE)"
    )
    parser.add_argument(
        "--init",
        action="store_true",
        help="create the embedded store if the data directory has none (otherwise refused)",
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
    serve.add_argument(
        "--access-log",
        dest="access_log",
        action="store_true",
        default=None,
        help="log one line per HTTP request (credentials redacted; env LRS_ACCESS_LOG)",
    )
    serve.add_argument(
        "--log-format",
        dest="log_format",
        choices=["text", "json"],
        help="text (default) or one JSON object per line (env LRS_LOG_FORMAT)",
    )
    for name, text in SERVE_FLAGS.items():  # limits, rate limit, timeouts, CORS, HSTS
        kind = value_type(name)
        serve.add_argument("--" + name.replace("_", "-"), dest=name, type=kind, help=text)
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
    rebuild.add_argument(
        "projection",
        nargs="?",
        help="only this projection (default: all); `aggregates`: the stored competency aggregates",
    )
    rebuild.set_defaults(func=cmd_rebuild)

    frameworks = commands.add_parser("frameworks", help="competency frameworks")
    framework_actions = frameworks.add_subparsers(dest="action", required=True)
    _add_common(framework_actions.add_parser("list", help="bundled and imported frameworks"))
    show = framework_actions.add_parser("show", help="print a framework as JSON")
    _add_common(show)
    show.add_argument("id", help="framework id (IRI) or bundled name, e.g. digcomp-2.2")
    imported = framework_actions.add_parser("import", help="import our JSON format or 1EdTech CASE")
    _add_common(imported)
    imported.add_argument("file")
    imported.add_argument("--case", action="store_true", help="the file is a CASE CFPackage")
    frameworks.set_defaults(func=cmd_frameworks)

    alignments = commands.add_parser("alignments", help="alignment rules: evidence -> competence")
    alignment_actions = alignments.add_subparsers(dest="action", required=True)
    _add_common(alignment_actions.add_parser("list", help="imported rule sets"))
    rules = alignment_actions.add_parser(
        "import", help="import a rule set (schemas/alignment-rules.schema.json), then rebuild"
    )
    _add_common(rules)
    rules.add_argument("file")
    rules.add_argument("--no-rebuild", action="store_true", help="do not replay the log now")
    alignments.set_defaults(func=cmd_alignments)

    identity = commands.add_parser("identity", help="link learner keys into persons")
    identity_actions = identity.add_subparsers(dest="action", required=True)
    link = identity_actions.add_parser("link", help="link learner keys to a person")
    _add_common(link)
    link.add_argument("--person", required=True)
    link.add_argument("keys", nargs="+", help="learner keys, e.g. account:https://lms|42")
    unlink = identity_actions.add_parser("unlink", help="unlink a learner key")
    _add_common(unlink)
    unlink.add_argument("key")
    shown = identity_actions.add_parser("show", help="a person's keys")
    _add_common(shown)
    shown.add_argument("person")
    pseudo = identity_actions.add_parser(
        "pseudonymise", help="the xAPI account for a national ID number (HMAC, never in clear)"
    )
    pseudo.add_argument("number")
    pseudo.add_argument("--home-page", help="account homePage (default https://vneid.gov.vn)")
    identity.set_defaults(func=cmd_identity)

    connect = commands.add_parser(
        "connect", help="run a source connector (Moodle, Open edX, Caliper, OneRoster, CSV...)"
    )
    sources = connect.add_subparsers(dest="source", required=True, metavar="SOURCE")
    from connectors import available
    from connectors.command import add_arguments as add_connect_arguments

    for name, module in available().items():
        source = sources.add_parser(name, help=module.HELP)
        _add_common(source)
        add_connect_arguments(source)
        module.add_arguments(source)
        source.set_defaults(func=cmd_connect, connector=module)

    audit = commands.add_parser("audit", help="the access log: check its hash chain")
    audit_actions = audit.add_subparsers(dest="action", required=True)
    verify = audit_actions.add_parser(
        "verify", help="check the whole chain; exit 1 naming the first tampered entry"
    )
    _add_common(verify)
    verify.add_argument(
        "--anchor", metavar="SEQ:HASH", help="a head noted earlier (`lrs audit head`) to check"
    )
    _add_common(audit_actions.add_parser("head", help="print the head (SEQ:HASH) to keep elsewhere"))
    audit.set_defaults(func=cmd_audit)

    erase = commands.add_parser(
        "erase", help="erase a person's data everywhere (personal-data erasure request)"
    )
    _add_common(erase)
    erase.add_argument("--person", help="a person id (every learner key linked to it)")
    erase.add_argument("--key", action="append", help="a learner key, e.g. mbox:mailto:an@x.org")
    erase.add_argument("--agent", action="append", help="an xAPI agent as JSON")
    erase.add_argument(
        "--dry-run", action="store_true", help="print the learner keys it would erase; erase nothing"
    )
    erase.add_argument("--yes", action="store_true", help="do not ask before erasing")
    erase.set_defaults(func=cmd_erase)

    retention_cli.register(commands, _add_common, _settings, _open)

    credentials = commands.add_parser("credentials", help="manage API credentials")
    credential_commands = credentials.add_subparsers(dest="action", required=True)
    create = credential_commands.add_parser("create", help="create a key and secret")
    _add_common(create)
    create.add_argument("--name", required=True, help="who the credential is for")
    create.add_argument("--scope", action="append", required=True, help="a scope; repeat for more")
    create.add_argument(
        "--org", help="the organisation the credential belongs to (platforms, schools: 'default')"
    )
    create.add_argument(
        "--role",
        choices=["platform", "school", "auditor", "admin"],
        help="whose data it reaches (default: admin or auditor if that scope is given, else platform)",
    )
    create.add_argument(
        "--audits",
        action="extend",
        nargs="+",
        metavar="ORG",
        help="organisations an auditor may read: --audits a b, or repeated (default: all)",
    )
    create.add_argument(
        "--expires", help="when it stops working: 90d, 12h, a date (2027-06-30) or a date-time"
    )
    create.add_argument("--json", action="store_true", help="print JSON: key, secret, scopes")
    create.set_defaults(func=cmd_credentials_create)
    listing = credential_commands.add_parser("list", help="every credential (never a secret)")
    _add_common(listing)
    listing.add_argument("--json", action="store_true", help="print a JSON array")
    shown = credential_commands.add_parser("show", help="one credential as JSON (no secret)")
    _add_common(shown)
    shown.add_argument("key")
    revoke = credential_commands.add_parser(
        "revoke", help="refuse a credential from now on, in every process"
    )
    _add_common(revoke)
    revoke.add_argument("key")
    rotate = credential_commands.add_parser(
        "rotate", help="a new secret; the old one works for --grace more"
    )
    _add_common(rotate)
    rotate.add_argument("key")
    rotate.add_argument(
        "--grace", default="1d", help="how long the old secret still works: 1d (default), 12h, 0"
    )
    rotate.add_argument("--json", action="store_true", help="print JSON with the new secret")
    for command in (listing, shown, revoke, rotate):
        command.set_defaults(func=cmd_credentials)
    _add_competency_commands(commands)
    forwarding_cli.register(commands, _add_common, _open)  # `lrs forwarding` (issue 18)
    return parser


# ------------------------------------------------------------------ competencies: crosswalks,
# persons' attributes, confirmed results for the national systems (issue 14)


def cmd_crosswalks(args: argparse.Namespace) -> int:
    from lrs.competency.registry import crosswalk_list, import_crosswalk

    store = _open(args, writes=args.action != "list")
    try:
        if args.action == "list":
            for walk in crosswalk_list(store):
                ways = "<->" if walk.both_ways else "->"
                print(f"{walk.id}  {walk.source_framework} {ways} {walk.target_framework}")
            return 0
        walk = import_crosswalk(store, _read_json(args.file))
        print(f"imported crosswalk {walk.id}: {len(walk.pairs)} competence pairs")
        print("it counts from the next read of any status (no rebuild needed)")
    except XAPIError as exc:
        return _fail(exc)
    finally:
        store.close()
    return 0


def cmd_persons(args: argparse.Namespace) -> int:
    from lrs.competency.confirmation import confirmation_rule
    from lrs.rosters import get_person, person_record, save_person

    rule = confirmation_rule("https://w3id.org/lrs/frameworks/vn-decision-757/2025")
    if args.target_group and rule is not None and args.target_group not in rule.groups:
        print(f"error: --target-group is one of {', '.join(rule.groups)}", file=sys.stderr)
        return 2
    store = _open(args)
    try:
        attributes = {
            "name": args.name,
            "target_group": args.target_group,
            "commune": args.commune,
            "org": args.org,
        }
        save_person(store, person_record(args.person, **attributes))
        print(orjson.dumps(get_person(store, args.person)).decode())
    finally:
        store.close()
    return 0


def cmd_results(args: argparse.Namespace) -> int:
    from lrs.competency.exports import SINKS, confirmed_records
    from lrs.competency.reading import as_of_bound
    from lrs.competency.registry import find_framework

    store = _open(args, writes=False)
    try:
        framework = find_framework(store, args.framework)
        if framework is None:
            print(f"error: no framework {args.framework!r}", file=sys.stderr)
            return 2
        records = confirmed_records(store, framework, as_of_bound(args.as_of))
        if args.out:
            with open(args.out, "w", encoding="utf-8", newline="") as out:
                count = SINKS[args.format](out).write(records)
        else:
            count = SINKS[args.format](sys.stdout).write(records)
        print(f"{count} confirmed persons exported", file=sys.stderr)
    except XAPIError as exc:
        return _fail(exc)
    finally:
        store.close()
    return 0


def cmd_attributes(args: argparse.Namespace) -> int:
    """Import persons' and organisations' attributes from CSV (kind,id,name,commune,...)."""
    import csv

    from lrs.competency.aggregates import save_organisation
    from lrs.rosters import note_placement_change, person_record, save_person

    store = _open(args)
    count = 0
    persons: list[str] = []
    orgs: list[str] = []
    try:
        with open(args.file, encoding="utf-8-sig", newline="") as handle:
            for line, row in enumerate(csv.DictReader(handle), start=2):
                kind, ident = (row.get("kind") or "").strip(), (row.get("id") or "").strip()
                values = {
                    k: v.strip()
                    for k, v in row.items()
                    if k not in ("kind", "id") and isinstance(v, str) and v.strip()
                }
                if not ident or kind not in ("person", "organisation"):
                    print(
                        f"error: line {line}: kind is person or organisation, id is required",
                        file=sys.stderr,
                    )
                    return 2
                if kind == "person":
                    unknown = set(values) - {"name", "target_group", "commune", "org"}
                    if unknown:
                        print(
                            f"error: line {line}: unknown column {sorted(unknown)[0]}",
                            file=sys.stderr,
                        )
                        return 2
                    save_person(store, person_record(ident, **values), note=False)
                    persons.append(ident)
                else:
                    save_organisation(
                        store,
                        {"id": ident, **{k: values[k] for k in ("name", "commune") if k in values}},
                        note=False,
                    )
                    orgs.append(ident)
                count += 1
    except OSError as exc:
        print(f"error: cannot read {args.file}: {exc.strerror}", file=sys.stderr)
        return 2
    finally:
        note_placement_change(store, keys=persons, orgs=orgs)  # once for the import
        store.close()
    print(f"imported attributes of {count} persons and organisations")
    return 0


def demo_province(store: Store, seed: int = 2025) -> Summary:
    """`lrs demo`'s province written into `store` through the connectors' ingest path, then
    processed by every projection (the runtime pieces lrs.demo is given)."""
    from consumers.ingest import connector_authority, store_all
    from consumers.reducers.enabled import reducers
    from consumers.runtime.local import catch_up
    from lrs.demo import SITE, load_demo

    authority = connector_authority("demo", SITE)
    return load_demo(
        store,
        lambda batch: store_all(store, batch, authority, "demo"),
        lambda: catch_up(store, reducers(store)),
        seed,
    )


def cmd_demo(args: argparse.Namespace) -> int:
    from lrs.demo import SITE

    store = _open(args, create=True)  # a demo is a new store of its own
    try:
        summary = demo_province(store, seed=args.seed)
    finally:
        store.close()
    print(
        f"demo province loaded: {summary.organisations} organisations, {summary.classes} "
        f"classes, {summary.persons} persons, {summary.statements} statements "
        f"({summary.voided} voided)"
    )
    for problem in summary.rejected[:5]:
        print(f"refused: {problem}", file=sys.stderr)
    print(
        "next: lrs credentials create --name me --scope all --role admin, lrs serve, then e.g.\n"
        f"  /api/v1/groups/{SITE}/class/thpt-an-binh/10a1/competencies?framework="
        "vn-circular-02-2025&format=csv\n"
        "  /api/v1/persons/p-u0001/competencies?framework=vn-decision-757-2025\n"
        "  /api/v1/aggregates/competencies?framework=vn-decision-757-2025&by=commune\n"
        "  /api/v1/exports/results?framework=vn-decision-757-2025&format=csv"
    )
    return 1 if summary.rejected else 0


def cmd_result_statements(args: argparse.Namespace) -> int:
    """Every attainment of every learner key as an xAPI `achieved` statement (JSON lines)."""
    from lrs.competency.assertions import attainment_statements
    from lrs.competency.crosswalk import into
    from lrs.competency.reading import as_of_bound, read_status, status_learners
    from lrs.competency.registry import crosswalk_list, find_framework

    store = _open(args, writes=False)
    count = 0
    try:
        framework = find_framework(store, args.framework)
        if framework is None:
            print(f"error: no framework {args.framework!r}", file=sys.stderr)
            return 2
        until = as_of_bound(args.as_of)
        sources = {framework.id} | {d.source for d in into(crosswalk_list(store), framework.id)}
        out = open(args.out, "w", encoding="utf-8") if args.out else sys.stdout  # noqa: SIM115
        try:
            for key in status_learners(store, sorted(sources)):
                state, _ = read_status(store, framework, [key], until)
                for statement in attainment_statements(framework, key, state):
                    out.write(orjson.dumps(statement).decode() + "\n")
                    count += 1
        finally:
            if out is not sys.stdout:
                out.close()
    except XAPIError as exc:
        return _fail(exc)
    finally:
        store.close()
    print(f"{count} attainment statements", file=sys.stderr)
    return 0


def _add_competency_commands(commands: Any) -> None:
    demo = commands.add_parser("demo", help="load a realistic, fictional demo province")
    _add_common(demo)
    demo.add_argument("--seed", type=int, default=2025, help=argparse.SUPPRESS)
    demo.set_defaults(func=cmd_demo)

    attributes = commands.add_parser(
        "attributes", help="persons' and organisations' attributes (commune, target group)"
    )
    attribute_actions = attributes.add_subparsers(dest="action", required=True)
    loading = attribute_actions.add_parser(
        "import",
        help="CSV with columns kind (person|organisation), id, name, commune, target_group, org",
    )
    _add_common(loading)
    loading.add_argument("file")
    attributes.set_defaults(func=cmd_attributes)

    crosswalks = commands.add_parser("crosswalks", help="crosswalks between frameworks")
    actions = crosswalks.add_subparsers(dest="action", required=True)
    _add_common(actions.add_parser("list", help="bundled and imported crosswalks"))
    imported = actions.add_parser("import", help="import a crosswalk (JSON, see README)")
    _add_common(imported)
    imported.add_argument("file")
    crosswalks.set_defaults(func=cmd_crosswalks)

    persons = commands.add_parser("persons", help="a person's name, target group, commune")
    person_actions = persons.add_subparsers(dest="action", required=True)
    setting = person_actions.add_parser("set", help="set attributes of a person or learner key")
    _add_common(setting)
    setting.add_argument("person", help="person id (or a learner key)")
    setting.add_argument("--name")
    setting.add_argument(
        "--target-group", help="Decision 757 group: citizens, pupils_students, ..."
    )
    setting.add_argument("--commune", help="commune or ward")
    setting.add_argument("--org", help="organisation (school, agency, enterprise)")
    persons.set_defaults(func=cmd_persons)

    results = commands.add_parser("results", help="confirmed results for national systems")
    result_actions = results.add_subparsers(dest="action", required=True)
    export = result_actions.add_parser("export", help="JSON lines or CSV of confirmed persons")
    _add_common(export)
    export.add_argument("--framework", default="vn-decision-757-2025")
    export.add_argument("--format", choices=["jsonl", "csv"], default="jsonl")
    export.add_argument("--as-of", help="a date (2025-12-31) or a date and time with its zone")
    export.add_argument("--out", help="file to write (default: standard output)")
    statements = result_actions.add_parser(
        "statements", help="each attainment as an xAPI statement (ADL learner competency)"
    )
    _add_common(statements)
    statements.add_argument("--framework", default="vn-decision-757-2025")
    statements.add_argument("--as-of", help="a date (2025-12-31) or a date and time with its zone")
    statements.add_argument("--out", help="file to write (default: standard output)")
    statements.set_defaults(func=cmd_result_statements)
    export.set_defaults(func=cmd_results)


# The optional dependencies (pyproject.toml) by the modules they bring: the bare package
# (what ./scripts/serve installs) runs every command that needs none of them.
_EXTRA_OF = {
    "kafka": "kafka", "faust": "kafka", "mode": "kafka", "aiokafka": "kafka",
    "pymongo": "mongodb", "bson": "mongodb", "pymysql": "moodle", "psycopg": "moodle",
}  # fmt: skip


def main(argv: Sequence[str] | None = None) -> int:
    """Exit 0 done, 1 what the command met (an unreachable store, a read-only directory),
    2 how it was called (argparse's own usage errors too). Nothing a user can do ends in a
    traceback: each of these says what to fix."""
    from lrs.events.base import BusUnavailable

    # Everything the LRS writes (stores, checkpoints, reports, exports) is its owner's
    # alone: it holds personal data and the access log's pseudonymisation secret.
    os.umask(0o077)
    args = build_parser().parse_args(argv)
    try:
        return int(args.func(args))
    except SettingsError as exc:  # a bad setting is the user's to fix: no traceback
        for line in str(exc).splitlines():
            print(f"error: {line}", file=sys.stderr)
        return 2
    except CommandError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return exc.status
    except XAPIError as exc:  # StoreUnavailable among them
        return _fail(exc)
    except BusUnavailable as exc:
        print(f"error: the event bus is not reachable: {exc}; check LRS_BUS/--bus and that "
              "the broker is running", file=sys.stderr)
        return 1
    except ModuleNotFoundError as exc:
        extra = _EXTRA_OF.get((exc.name or "").split(".")[0])
        if extra is None:
            raise
        print(f"error: this command needs the `{extra}` extra ({exc.name} is not installed):"
              f" pip install 'lrs[{extra}]' (a checkout: .venv/bin/pip install -e '.[{extra}]')",
              file=sys.stderr)  # fmt: skip
        return 1
    except BrokenPipeError:
        # The reader of our output (head, less) has gone: stop quietly, as Unix tools do.
        # Point stdout at /dev/null so the interpreter's last flush does not fail again.
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 1
    except sqlite3.OperationalError as exc:
        print(f"error: the SQLite store cannot be used: {exc}; check the data directory "
              "(permissions, free space) and that no other program holds it", file=sys.stderr)
        return 1
    except OSError as exc:
        where = f" {exc.filename}" if exc.filename else ""
        print(f"error: cannot use{where}: {exc.strerror or exc}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return 130


if __name__ == "__main__":
    raise SystemExit(main())
