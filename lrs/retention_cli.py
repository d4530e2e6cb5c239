"""`lrs retention ...`: run the retention policies (or count with --dry-run), and manage
policies and legal holds from the command line, as the admin API does over HTTP.

Registered by lrs.cli (`register`); lives apart so the CLI module stays a list of commands.
"""

from __future__ import annotations

import argparse
import getpass
import sys
from collections.abc import Callable
from typing import Any

import orjson

from lrs.config import Settings
from lrs.domain.records import Credential
from lrs.ops import retention
from lrs.ports import Store

SettingsOf = Callable[[argparse.Namespace], Settings]
# lrs.cli._open: the store the settings name, refused when --data holds none (see --init)
OpenStore = Callable[..., Store]


def register(
    commands: Any,
    add_common: Callable[[argparse.ArgumentParser], None],
    settings_of: SettingsOf,
    open_store: OpenStore,
) -> None:
    parser = commands.add_parser(
        "retention", help="retention policies, legal holds, and running them"
    )
    actions = parser.add_subparsers(dest="action", required=True)
    run = actions.add_parser("run", help="apply every policy now (the processors also do, daily)")
    run.add_argument("--dry-run", action="store_true", help="count what would go; change nothing")
    add_common(run)
    add_common(actions.add_parser("policies", help="list the policies"))
    policy = actions.add_parser("set", help="set the policy of an organisation and data class")
    policy.add_argument("--org", default=None, help="organisation ('*' for the access log)")
    policy.add_argument("--class", dest="data_class", required=True, choices=retention.DATA_CLASSES)
    policy.add_argument(
        "--action", dest="policy_action", default="delete", choices=("delete", "anonymise")
    )
    policy.add_argument("--days", type=int, required=True, help="keep this many days")
    policy.add_argument(
        "--projections",
        default="recompute",
        choices=retention.PROJECTIONS,
        help="statements: rebuild status without them, or keep it as facts",
    )
    add_common(policy)
    unset = actions.add_parser("unset", help="remove a policy")
    unset.add_argument("--org", required=True)
    unset.add_argument("--class", dest="data_class", required=True, choices=retention.DATA_CLASSES)
    add_common(unset)
    add_common(actions.add_parser("holds", help="list the legal holds"))
    for name, text in (("hold", "place a legal hold"), ("release", "release a legal hold")):
        hold = actions.add_parser(name, help=text)
        hold.add_argument("--person", help="a person id (every learner key linked to it)")
        hold.add_argument("--learner", help="a learner key, e.g. mbox:mailto:an@x.org")
        hold.add_argument("--org", help="an organisation")
        if name == "hold":
            hold.add_argument("--reason", default="", help="why (kept with the hold)")
        add_common(hold)
    parser.set_defaults(func=lambda args: cmd_retention(args, settings_of, open_store))


def _subject(args: argparse.Namespace) -> tuple[str, str] | None:
    given = [(kind, getattr(args, kind)) for kind in retention.HOLD_SUBJECTS if getattr(args, kind)]
    return given[0] if len(given) == 1 else None


def cmd_retention(args: argparse.Namespace, settings_of: SettingsOf, open_store: OpenStore) -> int:
    from consumers.reducers.enabled import reducers
    settings = settings_of(args)
    operator = Credential("cli", f"lrs retention ({getpass.getuser()})", ("admin",), role="admin")
    store = open_store(args, writes=args.action not in {"policies", "holds"})
    try:
        result: Any
        if args.action == "run":
            result = retention.run_retention(
                store,
                list(reducers(store)),
                access_log_min_days=settings.retention_access_log_min_days,
                dry_run=args.dry_run,
                credential=operator,
            ).as_dict()
        elif args.action == "policies":
            result = retention.policies(store)
        elif args.action == "holds":
            result = retention.holds(store)
        elif args.action == "set":
            body = {
                "data_class": args.data_class,
                "action": args.policy_action,
                "days": args.days,
                "projections": args.projections,
            }
            if args.org is not None:
                body["org"] = args.org
            policy = retention.check_policy(body, settings.retention_access_log_min_days)
            result = retention.put_policy(store, policy, operator)
        elif args.action == "unset":
            retention.delete_policy(store, args.org, args.data_class, operator)
            result = {"removed": retention.policy_id(args.org, args.data_class)}
        else:
            subject = _subject(args)
            if subject is None:
                print("error: give one of --person, --learner or --org", file=sys.stderr)
                return 2
            if args.action == "hold":
                hold = retention.check_hold(
                    {"subject_type": subject[0], "subject": subject[1], "reason": args.reason}
                )
                result = retention.put_hold(store, hold, operator)
            else:
                retention.release_hold(store, *subject, operator)
                result = {"released": retention.hold_id(*subject)}
    finally:  # a refused input (XAPIError) is said by lrs.cli.main, as for every command
        store.close()
    print(orjson.dumps(result, option=orjson.OPT_INDENT_2).decode())
    return 0
