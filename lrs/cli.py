"""The `lrs` command line."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

import orjson

from lrs.config import SERVE_FLAGS, Settings, SettingsError, load_settings, value_type
from lrs.xapi.errors import XAPIError

if TYPE_CHECKING:
    from lrs.demo import Summary
    from lrs.storage.base import Store


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


SERVE_SWITCH_INTERVAL = 0.001  # seconds; see cmd_serve


def cmd_serve(args: argparse.Namespace) -> int:
    import uvicorn

    from lrs.api.app import create_app
    from lrs.api.redact import redact, uvicorn_log_config
    from lrs.api.timeouts import header_timeout_protocol

    settings = _settings(args)
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
        log_config=uvicorn_log_config(args.log_level),  # redacts credentials in every line
        access_log=False,
        http=header_timeout_protocol(settings.header_timeout),
        timeout_keep_alive=settings.keep_alive_timeout,  # type: ignore[arg-type]
    )
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
    from lrs.storage import open_store

    settings = _settings(args)
    store = open_store(settings.store_url)
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
    finally:
        store.close()
    return 0


def _open(args: argparse.Namespace) -> Store:
    from lrs.storage import open_store

    return open_store(_settings(args).store_url)


def _read_json(path: str) -> Any:
    try:
        with open(path, "rb") as handle:
            return orjson.loads(handle.read())
    except OSError as exc:
        raise SystemExit(f"error: cannot read {path}: {exc.strerror}") from None
    except orjson.JSONDecodeError as exc:
        raise SystemExit(f"error: {path} is not JSON: {exc}") from None


def _fail(exc: XAPIError) -> int:
    where = f" (at {exc.field})" if exc.field else ""
    print(f"error: {exc.message}{where}", file=sys.stderr)
    return 2


def cmd_frameworks(args: argparse.Namespace) -> int:
    from lrs.competency.case import import_case
    from lrs.competency.registry import find_framework, frameworks, import_framework

    store = _open(args)
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
    from lrs.competency.registry import ALIGNMENT, import_rules

    store = _open(args)
    try:
        if args.action == "list":
            for data in store.list_definitions(ALIGNMENT):
                print(f"{data['id']}  framework {data['framework']}  {len(data['rules'])} rules")
            return 0
        ruleset = import_rules(store, _read_json(args.file))
        print(f"imported rule set {ruleset.id}: {len(ruleset.rules)} rules for {ruleset.framework}")
    except XAPIError as exc:
        return _fail(exc)
    finally:
        store.close()
    if args.no_rebuild:
        print(
            "statements already processed keep their old evidence until `lrs rebuild competencies`"
        )
        return 0
    args.projection = "competencies"
    return cmd_rebuild(args)


def cmd_identity(args: argparse.Namespace) -> int:
    import os

    from lrs.identity import DEFAULT_HOME_PAGE, pseudonymise
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
    store = _open(args)
    try:
        if args.action == "link":
            identity.link(store, args.person, args.keys)
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
    return connect(
        args.connector, args, Path(settings.data), settings.store_url, settings.public_url,
        settings.kafka_topic_prefix,
    )


def cmd_credentials_create(args: argparse.Namespace) -> int:
    from lrs.auth import create_credential
    from lrs.storage import open_store

    settings = _settings(args)
    store = open_store(settings.store_url)
    try:
        new = create_credential(
            store, args.name, args.scope, args.org, role=args.role, audits=args.audits or ()
        )
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
                    "role": new.credential.role,
                    "org": new.credential.org,
                    "audits": list(new.credential.audits),
                }
            ).decode()
        )
    else:
        print(
            f"key:    {new.credential.key}\nsecret: {new.secret}\n"
            f"scopes: {' '.join(new.credential.scopes)}\n"
            f"role:   {new.credential.role}\norg:    {new.credential.org or '-'}"
        )
        print(
            "Use them as HTTP Basic credentials (user = key, password = secret).", file=sys.stderr
        )
    return 0


def cmd_audit(args: argparse.Namespace) -> int:
    """`lrs audit verify`: check the whole access log chain; `lrs audit head`: print the head
    to note elsewhere (an anchor for `verify --anchor`)."""
    from lrs.audit import verify
    from lrs.storage.base import AccessHead

    store = _open(args)
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
    from lrs.erasure_requests import erase
    from lrs.storage.base import Credential
    from lrs.xapi.identity import agent_key, normalise_key

    keys: list[str] = [normalise_key(k) for k in args.key or []]
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
    store = _open(args)
    try:
        done = erase(store, operator, person=args.person, keys=keys, reducers=reducers(store))
    except XAPIError as exc:
        return _fail(exc)
    finally:
        store.close()
    print(orjson.dumps(done.as_dict()).decode())
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
    rebuild.add_argument("projection", nargs="?", help="only this projection (default: all)")
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
    erase.set_defaults(func=cmd_erase)

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
        action="append",
        metavar="ORG",
        help="an organisation an auditor may read; repeat for more (default: all)",
    )
    create.add_argument("--json", action="store_true", help="print JSON: key, secret, scopes")
    create.set_defaults(func=cmd_credentials_create)
    _add_competency_commands(commands)
    return parser


# ------------------------------------------------------------------ competencies: crosswalks,
# persons' attributes, confirmed results for the national systems (issue 14)


def cmd_crosswalks(args: argparse.Namespace) -> int:
    from lrs.competency.registry import crosswalk_list, import_crosswalk

    store = _open(args)
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

    store = _open(args)
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

    from lrs.competency.aggregates import ORGANISATION
    from lrs.rosters import person_record, save_person

    store = _open(args)
    count = 0
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
                    save_person(store, person_record(ident, **values))
                else:
                    known = store.get_definition(ORGANISATION, ident) or {}
                    store.put_definition(
                        ORGANISATION,
                        ident,
                        {
                            **known,
                            "id": ident,
                            **{k: values[k] for k in ("name", "commune") if k in values},
                        },
                    )
                count += 1
    except OSError as exc:
        print(f"error: cannot read {args.file}: {exc.strerror}", file=sys.stderr)
        return 2
    finally:
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

    store = _open(args)
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

    store = _open(args)
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


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        return int(args.func(args))
    except SettingsError as exc:  # a bad setting is the user's to fix: no traceback
        for line in str(exc).splitlines():
            print(f"error: {line}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    raise SystemExit(main())
