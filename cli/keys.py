"""`placeq keys create|list|revoke`: the service's API keys in PLACEQ_DATABASE_URL (needs the `serve` extra).

The token is printed once, alone on stdout (so ``TOKEN=$(placeq keys create ...)`` works); the store keeps only
its sha256. Like `placeq worker`, the commands bring the database schema to head first.
"""

from __future__ import annotations

import argparse
import sys
from datetime import UTC, datetime

from model_store.records import SCOPES


def register(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    p = sub.add_parser(
        "keys",
        help="create, list and revoke API keys of the service (used when PLACEQ_AUTH=true)",
        description="Manage the API keys that the service asks for when PLACEQ_AUTH=true, in the database of "
        "PLACEQ_DATABASE_URL (default: the embedded SQLite under PLACEQ_HOME). Scopes: 'predict' scores and reads; "
        "'admin' may also register designs, label, fine-tune, activate and roll back.",
    )
    actions = p.add_subparsers(dest="action", metavar="ACTION", required=True)
    c = actions.add_parser("create", help="create a key and print its token (shown only this once)")
    c.add_argument("--name", required=True, help="who or what holds the key, e.g. 'ci' or 'alice'")
    c.add_argument(
        "--scope",
        action="append",
        choices=SCOPES,
        required=True,
        help="predict: score and read; admin: everything (admin implies predict; repeatable)",
    )
    c.set_defaults(handler=_create)
    ls = actions.add_parser("list", help="list keys (id, name, scopes, created, last used, revoked); never tokens")
    ls.set_defaults(handler=_list)
    r = actions.add_parser("revoke", help="revoke a key by its id (the part after 'pq_' in its token)")
    r.add_argument("id", help="key id, as `placeq keys list` shows it")
    r.set_defaults(handler=_revoke)


def _run(action: str, args: argparse.Namespace) -> int:
    from model_store import ApiKeys, upgrade
    from model_store.db import Database
    from service.settings import get_settings

    settings = get_settings()
    if settings.database_url is None:
        settings.home.mkdir(parents=True, exist_ok=True)
    upgrade(settings.db_url)
    db = Database(settings.db_url)
    try:
        keys = ApiKeys(db)
        if action == "create":
            key, token = keys.create(args.name, args.scope)
            print(
                f"created API key {key.id} ({key.name!r}, scopes: {' '.join(key.scopes)}); its token, shown "
                "only this once:",
                file=sys.stderr,
            )
            print(token)
        elif action == "list":
            rows = [("ID", "NAME", "SCOPES", "CREATED", "LAST USED", "REVOKED")]
            rows += [
                (k.id, k.name, " ".join(k.scopes), _ts(k.created_at), _ts(k.last_used_at), _ts(k.revoked_at))
                for k in keys.list()
            ]
            widths = [max(len(r[i]) for r in rows) for i in range(len(rows[0]))]
            for r in rows:
                print("  ".join(v.ljust(w) for v, w in zip(r, widths, strict=True)).rstrip())
        else:
            key = keys.revoke(args.id)
            print(f"revoked API key {key.id} ({key.name!r}) at {_ts(key.revoked_at)}")
    finally:
        db.dispose()
    return 0


def _ts(at: datetime | None) -> str:
    return at.astimezone(UTC).strftime("%Y-%m-%d %H:%M:%SZ") if at is not None else "-"


def _create(args: argparse.Namespace) -> int:
    return _run("create", args)


def _list(args: argparse.Namespace) -> int:
    return _run("list", args)


def _revoke(args: argparse.Namespace) -> int:
    return _run("revoke", args)
