"""`lrs forwarding ...`: the forwarding rules from the command line (lrs.forwarding.rules
does the work, as for the admin API). Registered by lrs.cli, which passes its own helpers
for the common flags and opening the store; beside lrs.retention_cli, in the CLI layer.

Secrets stay out of flags (they would show in `ps` and shell history): a destination's
password or signing secret comes from the environment variable LRS_FORWARD_SECRET, or
from the first line of standard input with `--secret-stdin`.
"""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Callable
from typing import Any

import orjson

from lrs.forwarding import rules
from lrs.ports import Store

SECRET_VARIABLE = "LRS_FORWARD_SECRET"
OpenStore = Callable[[argparse.Namespace], Store]


def _print(value: Any) -> None:
    print(orjson.dumps(value, option=orjson.OPT_INDENT_2).decode())


def _secret(args: argparse.Namespace) -> str | None:
    if args.secret_stdin:
        return sys.stdin.readline().rstrip("\r\n") or None
    return os.environ.get(SECRET_VARIABLE) or None


def rule_body(args: argparse.Namespace) -> dict[str, Any]:
    """The admin API's request body from the flags of `add` and `update`."""
    destination: dict[str, Any] = {"kind": args.kind, "url": args.url}
    secret = _secret(args)
    if args.kind == "xapi":
        destination["username"] = args.username
        if secret is not None:
            destination["password"] = secret
    elif secret is not None:
        destination["secret"] = secret
    return {
        "name": args.name,
        "match": {
            "orgs": args.org or [],
            "verbs": args.verb or [],
            "activities": args.activity or [],
            "activity_prefixes": args.activity_prefix or [],
            "actors": args.actor or [],
            "categories": args.category or [],
        },
        "destination": destination,
        "batch": args.batch,
        "max_attempts": args.max_attempts,
        "paused": args.paused,
    }


def run(args: argparse.Namespace, open_store: OpenStore) -> int:
    store = open_store(args)
    try:
        action = args.forwarding_action
        if action == "list":
            _print({"rules": rules.list_rules(store)})
        elif action == "add":
            _print(rules.create_rule(store, rule_body(args), from_start=args.from_start))
        elif action == "update":
            _print(rules.replace_rule(store, args.rule, rule_body(args)))
        elif action == "show":
            _print(rules.show_rule(store, args.rule))
        elif action == "delete":
            rules.delete_rule(store, args.rule)
            print(f"deleted forwarding rule {args.rule}")
        elif action in ("pause", "resume"):
            _print(rules.set_paused(store, args.rule, action == "pause"))
        elif action == "replay":
            _print(rules.replay_since(store, args.rule, args.since))
        elif action == "dead-letters":
            _print(rules.dead_letter_page(store, args.rule, args.after, args.limit))
        elif action == "replay-dead-letters":
            _print(rules.replay_dead_letters(store, args.rule, args.offset or None))
    finally:  # a refused input (XAPIError) is said by lrs.cli.main, as for every command
        store.close()
    return 0


def register(
    commands: Any,
    add_common: Callable[[argparse.ArgumentParser], None],
    open_store: OpenStore,
) -> None:
    """Add `lrs forwarding` and its actions to the CLI's subcommands."""
    forwarding = commands.add_parser(
        "forwarding", help="forward statements to another LRS or a signed webhook"
    )
    actions = forwarding.add_subparsers(dest="forwarding_action", required=True)

    def action(name: str, text: str, *, rule: bool = True) -> argparse.ArgumentParser:
        parser: argparse.ArgumentParser = actions.add_parser(name, help=text)
        add_common(parser)
        if rule:
            parser.add_argument("rule", help="the rule id (`lrs forwarding list`)")
        return parser

    action("list", "rules with their delivery state", rule=False)
    for name, text in (
        ("add", "create a rule"),
        ("update", "replace a rule (secret kept if not given)"),
    ):
        parser = action(name, text, rule=name == "update")
        parser.add_argument("--name", required=True)
        parser.add_argument("--kind", choices=["xapi", "webhook"], required=True)
        parser.add_argument("--url", required=True, help="xapi: the LRS endpoint (…/xapi)")
        parser.add_argument(
            "--username",
            help=f"xapi: the Basic user (the password: {SECRET_VARIABLE} or --secret-stdin)",
        )
        parser.add_argument(
            "--secret-stdin",
            action="store_true",
            help="read the password / signing secret from standard input",
        )
        for flag, text in (
            ("--org", "an organisation whose statements it forwards"),
            ("--verb", "a verb id"),
            ("--activity", "an object activity id"),
            ("--activity-prefix", "an object activity id prefix"),
            ("--actor", "a learner key (mbox:mailto:…, account:<homePage>|<name>)"),
            ("--category", "a context category / xAPI profile id"),
        ):
            parser.add_argument(flag, action="append", help=text + "; repeat for more")
        parser.add_argument("--batch", type=int, default=100, help="statements per request")
        parser.add_argument(
            "--max-attempts",
            type=int,
            default=8,
            help="failed tries before a batch goes to the dead letters",
        )
        parser.add_argument("--paused", action="store_true", help="create it paused")
        if name == "add":
            parser.add_argument(
                "--from-start",
                action="store_true",
                help="forward the whole log, not only what is stored from now",
            )
    action("show", "a rule and its delivery state")
    action("delete", "delete a rule, its state and dead letters")
    action("pause", "stop sending; the offset waits")
    action("resume", "send again from where it paused")
    replay = action("replay", "send again what matches from a date")
    replay.add_argument("--since", required=True, help="2026-01-31 or 2026-01-31T08:00:00Z")
    dead = action("dead-letters", "statements a rule gave up on")
    dead.add_argument("--after", type=int, default=0, help="continue after this offset")
    dead.add_argument("--limit", type=int, default=100)
    again = action("replay-dead-letters", "send dead letters again (all, or --offset)")
    again.add_argument("--offset", type=int, action="append", help="one dead letter; repeat")
    forwarding.set_defaults(func=lambda args: run(args, open_store))
