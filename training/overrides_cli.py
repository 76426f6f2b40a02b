"""`relatedly pin | unpin | block | unblock | exclude | include | overrides list`: editorial overrides by hand.

The overrides live in the database (outside model versions, so every train, update, remove and
rollback keeps them). Ids are checked against the current model: an unknown one exits 2 with the
reason, unless `--allow-inactive` keeps the override for an article taken down or not imported yet.
After a change the revision file beside the models is replaced, so running services on this host
serve the change with their next request (and, with `--redis-url`, services on other hosts at once).
"""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Callable, Sequence

from recommender import artifacts
from recommender.overrides import ArticleRules, build_overrides, pin_problems, pin_states
from storage import Database
from storage.overrides import (
    OverrideNotFoundError,
    add_block,
    add_exclusion,
    announce_overrides,
    pins_of,
    read_audit,
    read_overrides,
    remove_block,
    remove_exclusion,
    ring_doorbell,
    set_pins,
)
from training.database_cli import database_options, open_database

EXIT_OK, EXIT_BAD_INPUT = 0, 2


def add_override_commands(commands: argparse._SubParsersAction, models_dir: str) -> None:
    """Register the override commands on the `relatedly` parser."""
    common = argparse.ArgumentParser(add_help=False, parents=[database_options(models_dir)])
    common.add_argument("--redis-url", default=os.environ.get("RELATEDLY_REDIS_URL") or None,
                        help="announce the change to services on other hosts (default: $RELATEDLY_REDIS_URL)")
    common.add_argument("--actor", default=os.environ.get("USER") or "cli", help="who is acting, for the audit trail")
    common.add_argument("--allow-inactive", action="store_true",
                        help="keep ids the current model does not have (taken down, not imported yet) as inactive")

    pin = commands.add_parser("pin", parents=[common], help="show stories first under an article, in this order")
    pin.add_argument("article_id", metavar="ARTICLE")
    pin.add_argument("story_ids", nargs="+", metavar="STORY")
    pin.add_argument("--replace", action="store_true", help="replace the pins (reorder) instead of appending")
    pin.set_defaults(handler=_pin)

    unpin = commands.add_parser("unpin", parents=[common], help="remove some (or, without STORY, all) pins")
    unpin.add_argument("article_id", metavar="ARTICLE")
    unpin.add_argument("story_ids", nargs="*", metavar="STORY")
    unpin.set_defaults(handler=_unpin)

    for name, handler, text in (("block", _block, "never show STORY under ARTICLE"),
                                ("unblock", _unblock, "lift a block")):
        parser = commands.add_parser(name, parents=[common], help=text)
        parser.add_argument("article_id", metavar="ARTICLE")
        parser.add_argument("story_id", metavar="STORY")
        parser.add_argument("--both-ways", action="store_true", help="nor ARTICLE under STORY")
        parser.set_defaults(handler=handler)

    exclude = commands.add_parser("exclude", parents=[common], help="keep STORY out of every list")
    exclude.add_argument("story_id", metavar="STORY")
    exclude.add_argument("--reason", default="", help="recorded with the exclusion (sponsored, outdated, legal…)")
    exclude.set_defaults(handler=_exclude)
    include = commands.add_parser("include", parents=[common], help="let an excluded STORY appear again")
    include.add_argument("story_id", metavar="STORY")
    include.set_defaults(handler=_include)

    overrides = commands.add_parser("overrides", help="show the editorial overrides")
    actions = overrides.add_subparsers(dest="action", required=True, metavar="ACTION")
    listing = actions.add_parser("list", parents=[database_options(models_dir)],
                                 help="pins, blocks and exclusions; inactive ones marked")
    listing.add_argument("--article", help="only this article's pins and blocks")
    listing.add_argument("--audit", type=int, default=0, metavar="N", help="also the last N changes")
    listing.set_defaults(handler=_list)


def article_rules(args: argparse.Namespace, article_id: str) -> ArticleRules:
    """The editors' rules for one article's list, as the service applies them (for `relatedly related`)."""
    with open_database(args) as db:
        rows = read_overrides(db)
    return build_overrides(rows.revision, rows.pins, rows.blocks, rows.exclusions.keys()).rules_for(article_id)


def _pin(args: argparse.Namespace) -> int:
    db = open_database(args)
    stories = list(args.story_ids)
    if not args.replace:
        current = pins_of(db, args.article_id)
        stories = current + [s for s in stories if s not in current]
    problems = pin_problems(args.article_id, stories)
    if problems:
        return _bad("; ".join(problems))
    return _change(args, db, [args.article_id, *args.story_ids],
                   lambda: set_pins(db, args.article_id, stories, actor=_actor(args)),
                   f"{args.article_id}: pins {', '.join(stories)}")


def _unpin(args: argparse.Namespace) -> int:
    db = open_database(args)
    current = pins_of(db, args.article_id)
    missing = [s for s in args.story_ids if s not in current]
    if not current or missing:
        return _bad(f"{args.article_id!r} has no pin {', '.join(map(repr, missing))}" if missing
                    else f"{args.article_id!r} has no pins")
    left = [s for s in current if s not in args.story_ids] if args.story_ids else []
    return _change(args, db, [], lambda: set_pins(db, args.article_id, left, actor=_actor(args)),
                   f"{args.article_id}: pins {', '.join(left) or 'none'}")


def _both(args: argparse.Namespace) -> str:
    return " and the reverse" if args.both_ways else ""


def _block(args: argparse.Namespace) -> int:
    if args.article_id == args.story_id:
        return _bad("an article cannot be blocked under itself")
    db = open_database(args)
    return _change(args, db, [args.article_id, args.story_id],
                   lambda: add_block(db, args.article_id, args.story_id, actor=_actor(args), both_ways=args.both_ways),
                   f"blocked {args.story_id} under {args.article_id}{_both(args)}")


def _unblock(args: argparse.Namespace) -> int:
    db = open_database(args)
    return _change(args, db, [],
                   lambda: remove_block(db, args.article_id, args.story_id, actor=_actor(args),
                                        both_ways=args.both_ways),
                   f"unblocked {args.story_id} under {args.article_id}{_both(args)}")


def _exclude(args: argparse.Namespace) -> int:
    db = open_database(args)
    return _change(args, db, [args.story_id],
                   lambda: add_exclusion(db, args.story_id, actor=_actor(args), reason=args.reason),
                   f"excluded {args.story_id} from every list")


def _include(args: argparse.Namespace) -> int:
    db = open_database(args)
    return _change(args, db, [], lambda: remove_exclusion(db, args.story_id, actor=_actor(args)),
                   f"{args.story_id} may appear in lists again")


def _list(args: argparse.Namespace) -> int:
    db = open_database(args)
    rows = read_overrides(db)
    version, known = _served_ids(args.models_dir)
    snapshot = build_overrides(rows.revision, rows.pins, rows.blocks, rows.exclusions.keys())
    print(f"overrides revision {rows.revision}; checked against model {version or '(none published)'}")
    pages = [a for a in rows.pins if args.article is None or a == args.article]
    print(f"pins ({len(pages)} articles):")
    for page in pages:
        print(f"  {page}{_inactive(None if page in known else 'article_not_in_model')}")
        for position, (story, reason) in enumerate(pin_states(snapshot, page, known.__contains__), start=1):
            print(f"    {position:>2}. {story}{_inactive(reason)}")
    blocks = [(a, s) for a, s in rows.blocks if args.article is None or a == args.article]
    print(f"blocks ({len(blocks)}):")
    for page, story in blocks:
        print(f"  {story} never under {page}{_inactive(None if {page, story} <= known else 'not_in_model')}")
    print(f"exclusions ({len(rows.exclusions)}):")
    for story, reason in rows.exclusions.items():
        print(f"  {story}{f'  ({reason})' if reason else ''}{_inactive(None if story in known else 'not_in_model')}")
    if args.audit > 0:
        print(f"last {args.audit} changes:")
        for e in read_audit(db, limit=args.audit, article_id=args.article):
            print(f"  r{e.revision} {e.changed_at:%Y-%m-%d %H:%M:%S} {e.actor} {e.action} "
                  f"{e.article_id or ''} {' '.join(e.story_ids)} {e.detail}".rstrip())
    db.dispose()
    return EXIT_OK


def _change(args: argparse.Namespace, db: Database, ids: Sequence[str], change: Callable[[], int], done: str) -> int:
    """Check the ids, commit the change, ring the doorbell for running services, report."""
    version, known = _served_ids(args.models_dir)
    unknown = [i for i in dict.fromkeys(ids) if i not in known]
    if unknown and not args.allow_inactive:
        where = f"model {version}" if version else f"any published model in {args.models_dir}"
        return _bad(f"not in {where}: {', '.join(unknown)} (use --allow-inactive to keep the override until "
                    "the article is back)")
    try:
        revision = change()
    except OverrideNotFoundError as exc:
        return _bad(str(exc))
    finally:
        db.dispose()
    if os.path.isdir(args.models_dir):  # services of this host watch the file there
        ring_doorbell(args.models_dir)
    announce_overrides(args.redis_url, revision)
    note = f" (inactive until in the model: {', '.join(unknown)})" if unknown else ""
    print(f"{done}{note}; overrides revision {revision}")
    return EXIT_OK


def _served_ids(models_dir: str) -> tuple[str | None, set[str]]:
    version = artifacts.read_current(models_dir)
    return version, set(artifacts.read_article_ids(models_dir, version)) if version else set()


def _actor(args: argparse.Namespace) -> str:
    return f"cli:{args.actor}"


def _inactive(reason: str | None) -> str:
    return "" if reason is None else f"  [inactive: {reason}]"


def _bad(message: str) -> int:
    print(f"error: {message}", file=sys.stderr)
    return EXIT_BAD_INPUT
