"""`relatedly` command line: train, update, remove, sync, models, evaluate, related, serve, db, report, learn.

Exit codes, for cron and orchestrators: 0 success, 2 bad input (corpus, arguments, unknown id),
1 any other failure. Errors are one readable message on stderr, never a traceback (unless --debug).
"""

from __future__ import annotations

import argparse
import logging
import os
import sys
import tempfile
import time
from collections.abc import Sequence

from publishing.announce import announce_publish
from publishing.train import DEFAULT_KEEP_VERSIONS, DEFAULT_MEMORY_BUDGET_MB, train_and_publish
from publishing.updates import UpdateResult, update_published
from recommender import artifacts
from recommender.errors import ArtifactError, CorpusError, RelatedlyError, UnknownArticleError
from recommender.model import DEFAULT_TOP_K
from recommender.overrides import NO_RULES
from recommender.ranking import DEFAULT_DUPLICATE_THRESHOLD, DEFAULT_MIN_SCORE, RankingOptions
from storage import StorageError
from training.arguments import positive_int as _positive_int
from training.database_cli import add_database_commands
from training.evaluate import evaluate_corpus, format_table, write_report
from training.events_cli import add_event_commands
from training.importer import add_corpus_arguments, add_import_command, corpus_summary, load_from_args, reader_options
from training.learn_cli import add_learn_command
from training.logs import LOG_FORMATS, configure_cli_logging
from training.overrides_cli import add_override_commands, article_rules
from training.progress import progress_factory
from training.sync.cli import add_sync_command

EXIT_OK, EXIT_FAILURE, EXIT_BAD_INPUT = 0, 1, 2
DEFAULT_MODELS_DIR = "models"
log = logging.getLogger("relatedly.cli")


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the `relatedly` console script; returns the exit code."""
    parser = _build_parser()
    args = parser.parse_args(argv)
    if args.log_format not in LOG_FORMATS:  # from the environment; argparse checks only what is typed
        print(f"error: RELATEDLY_LOG_FORMAT must be one of {', '.join(LOG_FORMATS)}, got {args.log_format!r}",
              file=sys.stderr)
        return EXIT_BAD_INPUT
    configure_cli_logging(args.log_format, debug=args.debug)
    try:
        return args.handler(args)
    except (CorpusError, UnknownArticleError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return EXIT_BAD_INPUT
    except (RelatedlyError, StorageError, OSError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return EXIT_FAILURE
    except Exception as exc:  # the last line of defence: a message, not a traceback
        if args.debug:
            raise
        print(f"error: unexpected {type(exc).__name__}: {exc} (run with --debug for details)", file=sys.stderr)
        return EXIT_FAILURE


def _add_run_options(parser: argparse.ArgumentParser, *, defaults: bool) -> None:
    """`--debug` and `--log-format`: before the command (with their defaults), and after it on every command."""
    log_format = os.environ.get("RELATEDLY_LOG_FORMAT", "").strip().lower() or "text"
    parser.add_argument("--debug", action="store_true", default=False if defaults else argparse.SUPPRESS,
                        help="verbose logs and tracebacks")
    parser.add_argument("--log-format", choices=LOG_FORMATS, default=log_format if defaults else argparse.SUPPRESS,
                        help="text, or one JSON object per line like the service's (default: $RELATEDLY_LOG_FORMAT "
                             "or text)")


def _commands_of(parser: argparse.ArgumentParser) -> list[argparse.ArgumentParser]:
    """The parsers that run a command (the leaves below `parser`), each once."""
    found: dict[int, argparse.ArgumentParser] = {}
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            for child in action.choices.values():
                for leaf in _commands_of(child) or [child]:
                    found[id(leaf)] = leaf
    return list(found.values())


def _build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="relatedly", description="Related stories for every article.")
    _add_run_options(parser, defaults=True)
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    models_dir = os.environ.get("RELATEDLY_MODELS_DIR", DEFAULT_MODELS_DIR)
    redis_url = os.environ.get("RELATEDLY_REDIS_URL") or None

    train = commands.add_parser("train", help="fit a model on a corpus export and publish it")
    add_corpus_arguments(train, "article export")
    train.add_argument("--models-dir", default=models_dir, help="default: $RELATEDLY_MODELS_DIR or ./models")
    train.add_argument("--top-k", type=_positive_int, default=DEFAULT_TOP_K, help="neighbours kept per article")
    train.add_argument("--skip-invalid", action="store_true", help="train on the valid rows, report the rest")
    train.add_argument("--keep-versions", type=_positive_int, default=DEFAULT_KEEP_VERSIONS,
                       help="published versions to keep on disk")
    train.add_argument("--redis-url", default=redis_url, help="announce the new model (default: $RELATEDLY_REDIS_URL)")
    train.add_argument("--jobs", type=int, default=-1, help="workers for vectorising and neighbours (-1: all cores)")
    train.add_argument("--memory-budget-mb", type=_positive_int, default=DEFAULT_MEMORY_BUDGET_MB,
                       help="working memory of the counting, LSA and neighbour steps across all workers")
    train.add_argument("--backend", choices=("local", "dask"), default="local")
    train.add_argument("--scheduler", help="Dask scheduler address for --backend dask, e.g. tcp://host:8786")
    train.set_defaults(handler=_train)

    update = commands.add_parser("update", help="add new and edited articles to the current model (no refit)")
    add_corpus_arguments(update, "export of new or edited articles")
    update.add_argument("--models-dir", default=models_dir)
    update.add_argument("--skip-invalid", action="store_true", help="apply the valid rows, report the rest")
    update.add_argument("--keep-versions", type=_positive_int, default=DEFAULT_KEEP_VERSIONS)
    update.add_argument("--redis-url", default=redis_url, help="announce the new model (default: $RELATEDLY_REDIS_URL)")
    update.set_defaults(handler=_update)

    remove = commands.add_parser("remove", help="take articles down from every list, now and for later updates")
    remove.add_argument("article_ids", nargs="+", metavar="ID")
    remove.add_argument("--models-dir", default=models_dir)
    remove.add_argument("--keep-versions", type=_positive_int, default=DEFAULT_KEEP_VERSIONS)
    remove.add_argument("--redis-url", default=redis_url, help="announce the new model (default: $RELATEDLY_REDIS_URL)")
    remove.set_defaults(handler=_remove)

    models = commands.add_parser("models", help="list published versions, publish one, roll back")
    models.add_argument("--models-dir", default=models_dir)
    models.add_argument("--redis-url", default=redis_url, help="announce switches (default: $RELATEDLY_REDIS_URL)")
    after = argparse.ArgumentParser(add_help=False)  # the same options after the action: `models list --models-dir X`
    after.add_argument("--models-dir", default=argparse.SUPPRESS, help="default: $RELATEDLY_MODELS_DIR or ./models")
    after.add_argument("--redis-url", default=argparse.SUPPRESS,
                       help="announce switches (default: $RELATEDLY_REDIS_URL)")
    actions = models.add_subparsers(dest="action", required=True, metavar="ACTION")
    listing = actions.add_parser("list", parents=[after], help="versions, oldest first; * marks the current one")
    listing.set_defaults(handler=_models_list)
    publish = actions.add_parser("publish", parents=[after], help="make VERSION current")
    publish.add_argument("version")
    publish.set_defaults(handler=_models_publish)
    actions.add_parser("rollback", parents=[after], help="make the version before the current one current"
                       ).set_defaults(handler=_models_rollback)

    evaluate = commands.add_parser("evaluate", help="measure relevance against reference rankers")
    add_corpus_arguments(evaluate, "export with a label field")
    evaluate.add_argument("--label-field", default="labels", help="list field, or 'category' / 'tags'")
    evaluate.add_argument("--k", type=_positive_int, default=10)
    evaluate.add_argument("--sample", type=_positive_int, help="evaluate this many seeded queries, not all")
    evaluate.add_argument("--max-articles", type=_positive_int, help="train on a seeded sample of this size")
    evaluate.add_argument("--seed", type=int, default=0)
    evaluate.add_argument("--model", help="evaluate this published version instead of fitting a new model")
    evaluate.add_argument("--models-dir", default=models_dir)
    evaluate.add_argument("--report", help="directory for evaluation.json and precision_at_k.png")
    evaluate.add_argument("--rules", nargs="+", metavar="NAME=VALUE", type=_rule, default=[],
                          help="also measure the model under ranking rules, e.g. diversity=0.3 half_life_days=365")
    evaluate.set_defaults(handler=_evaluate)

    related = commands.add_parser("related", help="print an article's related stories from the current model")
    related.add_argument("article_id", nargs="?", help="the article's id (or give --url)")
    related.add_argument("--url", help="find the article by its URL (canonical form: no tracking parameters, …)")
    related.add_argument("--limit", type=_positive_int, default=10)
    related.add_argument("--models-dir", default=models_dir)
    related.add_argument("--exclude", default="", help="comma-separated ids to leave out")
    related.add_argument("--min-score", type=float, default=DEFAULT_MIN_SCORE, help="similarity floor (0-1)")
    related.add_argument("--no-dedup", action="store_true", help="keep near-duplicate stories")
    related.add_argument("--max-age-days", type=float, help="drop stories further than this from the article's date")
    related.add_argument("--half-life-days", type=float, help="halve a story's score per this many days of age")
    related.add_argument("--diversity", type=float, default=0.0, help="0 = by score … 1 = most varied (MMR)")
    related.add_argument("--category", choices=("any", "prefer", "same"), default="any")
    related.add_argument("--exclude-category", default="", help="comma-separated categories to leave out")
    related.add_argument("--explain", action="store_true", help="show shared terms and tags behind each story")
    related.add_argument("--database-url", default=os.environ.get("RELATEDLY_DATABASE_URL") or None,
                         help="where the editorial overrides are (default: as the service)")
    related.add_argument("--no-overrides", action="store_true", help="the model's list without editors' pins/blocks")
    related.set_defaults(handler=_related)

    add_import_command(commands)
    add_sync_command(commands, models_dir, redis_url, DEFAULT_KEEP_VERSIONS)

    serve = commands.add_parser("serve", help="serve the HTTP API (granian)")
    serve.add_argument("--port", type=_positive_int, help="default: $PORT or 8000")
    serve.add_argument("--models-dir", help="default: $RELATEDLY_MODELS_DIR or ./models")
    serve.set_defaults(handler=_serve)

    db_actions = add_database_commands(commands, models_dir)
    add_override_commands(commands, models_dir)
    add_event_commands(commands, db_actions, models_dir)
    add_learn_command(commands, models_dir)
    for command in _commands_of(parser):
        _add_run_options(command, defaults=False)
    return parser


RULE_TYPES = {"min_score": float, "max_age_days": float, "half_life_days": float, "diversity": float, "category": str}


def _rule(text: str) -> tuple[str, object]:
    name, _, value = text.partition("=")
    if name not in RULE_TYPES or not value:
        raise argparse.ArgumentTypeError(f"{text!r}: expected NAME=VALUE with NAME one of {', '.join(RULE_TYPES)}")
    try:
        return name, RULE_TYPES[name](value)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r}: {value!r} is not a valid {name}") from None


def _train(args: argparse.Namespace) -> int:
    summary = train_and_publish(
        args.corpus,
        args.models_dir,
        top_k=args.top_k,
        skip_invalid=args.skip_invalid,
        keep_versions=args.keep_versions,
        jobs=args.jobs,
        memory_budget_mb=args.memory_budget_mb,
        backend=args.backend,
        scheduler=args.scheduler,
        progress_factory=progress_factory(),
        body_format=args.body_format,
        reader_options=reader_options(args),
    )
    announce_publish(args.redis_url, summary.version)
    print(
        f"trained version {summary.version}: {summary.n_articles} articles"
        f" ({summary.n_skipped} skipped), vocabulary {summary.vocabulary_size} terms,"
        f" {summary.seconds:.1f} s, published to {args.models_dir}"
    )
    print(f"stages: {summary.stages_text()}")
    for line in summary.analysis:
        print(line)
    for line in corpus_summary(summary.excluded, summary.notes):
        print(line)
    return EXIT_OK


def _update(args: argparse.Namespace) -> int:
    started = time.perf_counter()
    corpus = load_from_args(args)
    result = update_published(args.models_dir, corpus.articles, keep_versions=args.keep_versions)
    for line in corpus_summary(corpus.excluded, corpus.notes):
        print(line)
    return _report_update(args, result, time.perf_counter() - started, skipped=corpus.skipped)


def _remove(args: argparse.Namespace) -> int:
    started = time.perf_counter()
    result = update_published(args.models_dir, removals=args.article_ids, keep_versions=args.keep_versions)
    return _report_update(args, result, time.perf_counter() - started)


def _report_update(args: argparse.Namespace, result: UpdateResult, seconds: float, skipped: int = 0) -> int:
    announce_publish(args.redis_url, result.version)
    s, drift = result.summary, result.drift
    print(f"published version {result.version} (was {result.previous}): {len(s.added)} added, "
          f"{len(s.replaced)} replaced, {len(s.removed)} removed, {len(s.refused)} refused as taken down, "
          f"{skipped} invalid rows skipped; {s.recomputed_lists} lists recomputed; {result.n_articles} articles; "
          f"{seconds:.1f} s")
    if s.refused:
        print(f"refused (taken down earlier; only a full 'relatedly train' brings them back): {', '.join(s.refused)}")
    if drift.get("retrain_recommended"):
        log.warning("retrain_recommended added_since_fit=%d fit_articles=%d unknown_term_share=%.3f",
                    drift["added_since_fit"], drift["fit_articles"], drift["unknown_term_share"])
        print("note: a full 'relatedly train' is recommended (many articles added since the last fit)")
    return EXIT_OK


def _models_list(args: argparse.Namespace) -> int:
    current = artifacts.read_current(args.models_dir)
    versions = artifacts.list_versions(args.models_dir)
    if not versions:
        print(f"no versions in {args.models_dir}")
    for version in versions:
        manifest = artifacts.read_manifest(args.models_dir, version)
        marker = "*" if version == current else " "
        print(f"{marker} {version}  {manifest['n_articles']:>8} articles  top_k {manifest['parameters']['top_k']:>3}"
              f"  created {manifest['created_at']}")
    return EXIT_OK


def _models_publish(args: argparse.Namespace) -> int:
    if args.version not in artifacts.list_versions(args.models_dir):
        print(f"error: no version {args.version!r} in {args.models_dir} (see 'relatedly models list')", file=sys.stderr)
        return EXIT_BAD_INPUT
    return _switch(args, args.version)


def _models_rollback(args: argparse.Namespace) -> int:
    current = artifacts.read_current(args.models_dir)
    older = [v for v in artifacts.list_versions(args.models_dir) if current is None or v < current]
    if not older:
        raise ArtifactError(f"no version older than {current} to roll back to in {args.models_dir}")
    return _switch(args, older[-1])


def _switch(args: argparse.Namespace, version: str) -> int:
    previous = artifacts.read_current(args.models_dir)
    artifacts.publish(args.models_dir, version)
    announce_publish(args.redis_url, version)
    print(f"current model: {version} (was {previous})")
    return EXIT_OK


def _evaluate(args: argparse.Namespace) -> int:
    try:
        RankingOptions(**dict(args.rules))
    except ValueError as exc:
        print(f"error: --rules: {exc}", file=sys.stderr)
        return EXIT_BAD_INPUT
    report = evaluate_corpus(
        args.corpus,
        label_field=args.label_field,
        k=args.k,
        sample=args.sample,
        max_articles=args.max_articles,
        seed=args.seed,
        models_dir=args.models_dir,
        model_version=args.model,
        rules=dict(args.rules),
        progress_factory=progress_factory(),
        body_format=args.body_format,
        reader_options=reader_options(args),
    )
    print(format_table(report))
    if args.report:
        for path in write_report(report, args.report):
            print(f"wrote {path}")
    return EXIT_OK


def _related(args: argparse.Namespace) -> int:
    version = artifacts.read_current(args.models_dir)
    if version is None:
        raise ArtifactError(f"no model published in {args.models_dir}: run 'relatedly train' first")
    model, _ = artifacts.load_version(args.models_dir, version)
    if (args.article_id is None) == (args.url is None):
        print("error: give an article id or --url, not both", file=sys.stderr)
        return EXIT_BAD_INPUT
    if args.url is not None:
        args.article_id = model.article_id_for_url(args.url)
        if args.article_id is None:
            print(f"error: no article with the URL {args.url!r} in model {version}", file=sys.stderr)
            return EXIT_BAD_INPUT
    article = model.article(args.article_id)
    print(f"{article.id}: {article.title}  [model {version}]")
    try:
        options = RankingOptions(
            limit=args.limit,
            exclude=frozenset(i.strip() for i in args.exclude.split(",") if i.strip()),
            min_score=args.min_score,
            duplicate_threshold=None if args.no_dedup else DEFAULT_DUPLICATE_THRESHOLD,
            max_age_days=args.max_age_days,
            half_life_days=args.half_life_days,
            diversity=args.diversity,
            category=args.category,
            exclude_categories=frozenset(c.strip() for c in args.exclude_category.split(",") if c.strip()),
        )
    except ValueError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return EXIT_BAD_INPUT
    rules = NO_RULES if args.no_overrides else article_rules(args, args.article_id)
    items = model.related(args.article_id, options, explain=args.explain, rules=rules)
    print(f"{len(items)} related stor{'y' if len(items) == 1 else 'ies'} found")
    for rank, item in enumerate(items, start=1):
        pinned = "  [pinned]" if item.source == "pinned" else ""
        print(f"{rank:>3}. {item.score:.3f}  {item.article.id}  {item.article.title}{pinned}")
        if item.explanation is not None:
            e = item.explanation
            terms = ", ".join(f"{term} {value:.3f}" for term, value in e.terms) or "none"
            tags = ", ".join(e.shared_tags) or "none"
            print(f"       similarity {item.similarity:.3f}: top terms [{terms}], semantic {e.semantic:.3f};"
                  f" shared tags: {tags}; same category: {'yes' if e.same_category else 'no'}")
    return EXIT_OK


def _serve(args: argparse.Namespace) -> int:
    """Replace this process with the service under granian (`python -m service.server`, configured in
    service/server/config.py)."""
    if args.port:
        os.environ["PORT"] = str(args.port)
    if args.models_dir:
        os.environ["RELATEDLY_MODELS_DIR"] = args.models_dir
    # the workers share their Prometheus samples through files in this directory
    os.environ.setdefault("PROMETHEUS_MULTIPROC_DIR", tempfile.mkdtemp(prefix="relatedly-metrics-"))
    sys.stdout.flush()
    os.execv(sys.executable, [sys.executable, "-m", "service.server"])
    return EXIT_FAILURE  # not reached: execv only returns by raising
