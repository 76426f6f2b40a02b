"""`relatedly report clicks|experiment` and `relatedly db prune`: what readers did with the lists, and forgetting it.

The clicks report prints impressions, clicks and click-through rate by model version and by position, so a
publisher can compare two models on real traffic, and with `--report DIR` writes `clicks.json` and
`ctr_by_position.png` (one line per model version). The experiment report compares the two arms of an
experiment (`RELATEDLY_EXPERIMENT`, see `service.api.reader_lists`) with intervals and a significance test.
"""

from __future__ import annotations

import argparse
import json
import math
import re
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

from scipy.stats import norm

from storage.events import PositionStats, VersionStats, arm_stats, position_stats, prune_events, version_stats
from training.database_cli import database_options, open_database

_DURATION = re.compile(r"^(\d{1,6})([dhm])$")
_UNITS = {"d": "days", "h": "hours", "m": "minutes"}
BASELINE_ARM = "model"  # the arm compared against when present (the service's learning experiment's control)


def add_event_commands(commands: argparse._SubParsersAction, db_actions: argparse._SubParsersAction,
                       models_dir: str) -> None:
    """`report clicks` beside the other commands, `prune` among the `db` actions."""
    report = commands.add_parser("report", help="reports on reader events")
    kinds = report.add_subparsers(dest="report", required=True, metavar="REPORT")
    clicks = kinds.add_parser("clicks", parents=[database_options(models_dir)],
                              help="impressions, clicks and click-through rate by position and model version")
    clicks.add_argument("--since", type=duration, default="7d", help="how far back: 7d, 24h, 30m (default 7d)")
    clicks.add_argument("--report", help="directory for clicks.json and ctr_by_position.png")
    clicks.set_defaults(handler=_report_clicks)
    experiment = kinds.add_parser("experiment", parents=[database_options(models_dir)],
                                  help="list click-through rate per experiment arm, with intervals and significance")
    experiment.add_argument("--since", type=duration, default="7d", help="how far back: 7d, 24h, 30m (default 7d)")
    experiment.add_argument("--confidence", type=_confidence, default=0.95,
                            help="level of the intervals; a difference is significant at 1 - this (default 0.95)")
    experiment.set_defaults(handler=_report_experiment)
    prune = db_actions.add_parser("prune", parents=[database_options(models_dir)],
                                  help="delete reader events older than a duration")
    prune.add_argument("--older-than", type=duration, required=True, help="e.g. 90d")
    prune.set_defaults(handler=_prune)


def duration(text: str) -> timedelta:
    """`90d`, `24h` or `30m` as a timedelta (argparse turns the error into exit code 2)."""
    match = _DURATION.match(text.strip())
    if match is None:
        raise argparse.ArgumentTypeError(f"{text!r} is not a duration like 90d, 24h or 30m")
    return timedelta(**{_UNITS[match.group(2)]: int(match.group(1))})


def format_report(versions: list[VersionStats], positions: list[PositionStats]) -> str:
    """The two tables of the report: per model version (lists shown, lists with a click, stories shown, clicks),
    then per version and position."""
    width = max([len("model version"), *(len(v.model_version) for v in versions)]) + 2
    lines = [f"{'model version':<{width}}{'lists':>7}{'clicked':>9}{'list CTR':>10}{'impressions':>12}{'clicks':>8}"
             f"{'CTR':>8}"]
    lines += [f"{v.model_version:<{width}}{v.lists:>7}{v.clicked_lists:>9}{v.list_ctr:>10.1%}{v.impressions:>12}"
              f"{v.clicks:>8}{v.ctr:>8.1%}" for v in versions]
    lines += ["", f"{'model version':<{width}}{'position':>9}{'impressions':>12}{'clicks':>8}{'CTR':>8}"]
    lines += [f"{p.model_version:<{width}}{p.position:>9}{p.impressions:>12}{p.clicks:>8}{p.ctr:>8.1%}"
              for p in positions]
    return "\n".join(lines)


def write_click_report(versions: list[VersionStats], positions: list[PositionStats], since: datetime,
                       directory: str | Path) -> list[Path]:
    """`clicks.json` (every figure printed) and `ctr_by_position.png` (CTR by position, a line per version)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    directory = Path(directory)
    directory.mkdir(parents=True, exist_ok=True)
    json_path = directory / "clicks.json"
    json_path.write_text(json.dumps({
        "since": since.isoformat(),
        "versions": [{"model_version": v.model_version, "lists": v.lists, "clicked_lists": v.clicked_lists,
                      "list_ctr": v.list_ctr, "impressions": v.impressions, "clicks": v.clicks, "ctr": v.ctr}
                     for v in versions],
        "positions": [{"model_version": p.model_version, "position": p.position, "impressions": p.impressions,
                       "clicks": p.clicks, "ctr": p.ctr} for p in positions],
    }, indent=2) + "\n", encoding="utf-8")
    figure, axes = plt.subplots(figsize=(8, 5))
    for version in versions:
        points = [(p.position, 100 * p.ctr) for p in positions if p.model_version == version.model_version]
        if points:
            axes.plot(*zip(*points, strict=True), marker="o", markersize=4, label=version.model_version)
    axes.set(xlabel="position in the list", ylabel="click-through rate (%)",
             title=f"CTR by position since {since:%Y-%m-%d %H:%M} UTC")
    axes.set_ylim(bottom=0)
    axes.grid(alpha=0.3)
    if versions:
        axes.legend(fontsize="small")
    png_path = directory / "ctr_by_position.png"
    figure.tight_layout()
    figure.savefig(png_path, dpi=100)
    plt.close(figure)
    return [json_path, png_path]


def _report_clicks(args: argparse.Namespace) -> int:
    since = datetime.now(UTC) - args.since
    with open_database(args) as database:
        versions, positions = version_stats(database, since), position_stats(database, since)
    print(f"reader events since {since:%Y-%m-%d %H:%M} UTC in {database.url}")
    print(format_report(versions, positions) if positions else "no events in that time")
    if args.report:
        for path in write_click_report(versions, positions, since, args.report):
            print(f"wrote {path}")
    return 0


@dataclass(frozen=True)
class ArmComparison:
    """Two arms' list click-through rates (share of lists shown that got a click) and their difference."""

    baseline: VersionStats
    treatment: VersionStats
    confidence: float
    baseline_interval: tuple[float, float]
    treatment_interval: tuple[float, float]
    difference: float  # treatment − baseline
    difference_interval: tuple[float, float]
    p_value: float

    @property
    def significant(self) -> bool:
        return self.p_value < 1.0 - self.confidence


def compare_arms(baseline: VersionStats, treatment: VersionStats, confidence: float = 0.95) -> ArmComparison:
    """Wilson intervals for each arm's list CTR, a Wald interval for the difference and the two-sided p-value of
    the pooled two-proportion z-test (each list view is one Bernoulli trial: clicked or not; the arms are drawn
    by a hash of the article and the day, so views are independent across arms)."""
    z = float(norm.ppf(0.5 + confidence / 2))
    p1, n1 = baseline.list_ctr, baseline.lists
    p2, n2 = treatment.list_ctr, treatment.lists
    difference = p2 - p1
    spread = z * math.sqrt(p1 * (1 - p1) / max(n1, 1) + p2 * (1 - p2) / max(n2, 1))
    pooled = (baseline.clicked_lists + treatment.clicked_lists) / max(n1 + n2, 1)
    standard_error = math.sqrt(pooled * (1 - pooled) * (1 / max(n1, 1) + 1 / max(n2, 1)))
    p_value = float(2 * norm.sf(abs(difference) / standard_error)) if standard_error > 0 else 1.0
    return ArmComparison(baseline, treatment, confidence, _wilson(baseline.clicked_lists, n1, z),
                         _wilson(treatment.clicked_lists, n2, z), difference,
                         (difference - spread, difference + spread), p_value)


def _wilson(successes: int, trials: int, z: float) -> tuple[float, float]:
    if trials == 0:
        return 0.0, 1.0
    p = successes / trials
    centre = (p + z * z / (2 * trials)) / (1 + z * z / trials)
    half = z * math.sqrt(p * (1 - p) / trials + z * z / (4 * trials * trials)) / (1 + z * z / trials)
    return max(0.0, centre - half), min(1.0, centre + half)


def format_comparison(c: ArmComparison) -> str:
    """Per arm its lists, clicked lists, list CTR with its interval; then the difference and the verdict."""
    level = f"{c.confidence:.0%}"
    lines = [f"{'arm':<12}{'lists':>9}{'clicked':>9}{'list CTR':>10}  {level} interval"]
    for arm, (low, high) in ((c.baseline, c.baseline_interval), (c.treatment, c.treatment_interval)):
        lines.append(f"{arm.model_version:<12}{arm.lists:>9}{arm.clicked_lists:>9}{arm.list_ctr:>10.2%}"
                     f"  {low:.2%} to {high:.2%}")
    low, high = c.difference_interval
    verdict = "significant" if c.significant else "not significant"
    lines.append(f"difference {c.treatment.model_version} - {c.baseline.model_version}: {c.difference:+.2%} "
                 f"({level} interval {low:+.2%} to {high:+.2%}), p = {c.p_value:.4f}: {verdict} at {level}")
    return "\n".join(lines)


def _report_experiment(args: argparse.Namespace) -> int:
    since = datetime.now(UTC) - args.since
    with open_database(args) as database:
        arms = arm_stats(database, since)
    print(f"experiment arms since {since:%Y-%m-%d %H:%M} UTC in {database.url}")
    if len(arms) != 2:
        print(f"need list views in exactly two arms, found {len(arms)}: {', '.join(a.model_version for a in arms)}"
              if arms else "no list views with an arm in that time")
        return 0
    baseline, treatment = sorted(arms, key=lambda a: (a.model_version != BASELINE_ARM, a.model_version))
    print(format_comparison(compare_arms(baseline, treatment, args.confidence)))
    return 0


def _confidence(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        value = -1.0
    if not 0.5 <= value < 1.0:
        raise argparse.ArgumentTypeError(f"{text!r} is not a confidence level like 0.95")
    return value


def _prune(args: argparse.Namespace) -> int:
    cutoff = datetime.now(UTC) - args.older_than
    with open_database(args) as database:
        deleted = prune_events(database, cutoff)
    print(f"deleted {deleted} event row{'' if deleted == 1 else 's'} older than {cutoff:%Y-%m-%d %H:%M} UTC"
          f" from {database.url}")
    return 0
