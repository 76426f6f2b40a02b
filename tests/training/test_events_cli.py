"""`relatedly report clicks` and `relatedly db prune` against a real SQLite file and a real PostgreSQL."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from pathlib import Path

import numpy as np
import pytest

from storage.events import EventRow, VersionStats, append_events, position_stats
from training.cli import main
from training.events_cli import compare_arms

NOW = datetime.now(UTC)


def rows(kind: str, version: str, list_id: str, positions: list[int], when: datetime = NOW) -> list[EventRow]:
    return [EventRow(when, kind, list_id, "a", f"s{p}", p, version) for p in positions]


@pytest.fixture()
def traffic(database, database_url: str) -> str:
    """Two model versions' lists: v-old clicked at position 3, v-new at 1 and 2; one 10-day-old list."""
    append_events(database, rows("impression", "v-old", "l1", [1, 2, 3]) + rows("impression", "v-old", "l2", [1, 2, 3])
                  + rows("click", "v-old", "l1", [3])
                  + rows("impression", "v-new", "l3", [1, 2, 3]) + rows("click", "v-new", "l3", [1])
                  + rows("click", "v-new", "l3", [2])
                  + rows("impression", "v-new", "l4", [1, 2, 3], NOW - timedelta(days=10)))
    return database_url


def test_report_prints_ctr_by_version_and_position_and_writes_a_chart(traffic: str, tmp_path: Path, capsys) -> None:
    assert main(["report", "clicks", "--database-url", traffic, "--report", str(tmp_path / "r")]) == 0
    out = capsys.readouterr().out
    lines = [line.split() for line in out.splitlines()]
    assert ["v-new", "1", "1", "100.0%", "3", "2", "66.7%"] in lines  # the 10-day-old list is outside 7d
    assert ["v-old", "2", "1", "50.0%", "6", "1", "16.7%"] in lines
    assert ["v-old", "3", "2", "1", "50.0%"] in lines
    assert ["v-new", "1", "1", "1", "100.0%"] in lines
    figures = json.loads((tmp_path / "r" / "clicks.json").read_text())
    assert [(p["model_version"], p["position"], p["clicks"]) for p in figures["positions"]] == [
        ("v-new", 1, 1), ("v-new", 2, 1), ("v-new", 3, 0), ("v-old", 1, 0), ("v-old", 2, 0), ("v-old", 3, 1)]
    assert (tmp_path / "r" / "ctr_by_position.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_report_since_widens_the_window(traffic: str, capsys) -> None:
    assert main(["report", "clicks", "--database-url", traffic, "--since", "30d"]) == 0
    lines = [line.split() for line in capsys.readouterr().out.splitlines()]
    assert ["v-new", "2", "1", "50.0%", "6", "2", "33.3%"] in lines


def test_prune_deletes_what_is_older(traffic: str, database, capsys) -> None:
    assert main(["db", "prune", "--database-url", traffic, "--older-than", "9d"]) == 0
    assert "deleted 3 event rows" in capsys.readouterr().out
    assert min(p.impressions for p in position_stats(database, NOW - timedelta(days=365))) == 1


@pytest.mark.parametrize("argv", [["report", "clicks", "--since", "7 days"], ["db", "prune", "--older-than", "-1d"],
                                  ["db", "prune"]])
def test_bad_durations_exit_2(argv: list[str], tmp_path: Path, capsys) -> None:
    with pytest.raises(SystemExit) as exited:
        main([*argv, "--models-dir", str(tmp_path / "models")])
    assert exited.value.code == 2
    assert "error" in capsys.readouterr().err


def test_an_empty_database_says_so(tmp_path: Path, capsys) -> None:
    assert main(["report", "clicks", "--models-dir", str(tmp_path / "models")]) == 0
    assert "no events in that time" in capsys.readouterr().out


def arm_rows(arm: str, lists: int, clicked: int, offset: int = 0) -> list[EventRow]:
    rows = []
    for n in range(lists):
        list_id = f"{arm}-{offset + n}"
        rows += [EventRow(NOW, "impression", list_id, "a", f"s{p}", p, "v", arm) for p in (1, 2, 3)]
        if n < clicked:
            rows.append(EventRow(NOW, "click", list_id, "a", "s2", 2, "v", arm))
    return rows


@pytest.mark.parametrize(("learned_clicked", "verdict"), [(300, "significant"), (205, "not significant")])
def test_report_experiment_prints_each_arms_ctr_with_intervals_and_the_verdict(
        database, database_url: str, learned_clicked: int, verdict: str, capsys) -> None:
    append_events(database, arm_rows("model", 2000, 200) + arm_rows("learned", 2000, learned_clicked)
                  + rows("impression", "v", "no-arm", [1, 2]))  # lists outside the experiment are left out
    assert main(["report", "experiment", "--database-url", database_url]) == 0
    out = capsys.readouterr().out
    lines = [line.split() for line in out.splitlines()]
    assert lines[2][:4] == ["model", "2000", "200", "10.00%"]  # the baseline first
    assert lines[3][:3] == ["learned", "2000", str(learned_clicked)]
    assert out.rstrip().endswith(f": {verdict} at 95%")


def test_report_experiment_needs_two_arms(database, database_url: str, capsys) -> None:
    assert main(["report", "experiment", "--database-url", database_url]) == 0
    assert "no list views with an arm" in capsys.readouterr().out
    append_events(database, arm_rows("model", 5, 1))
    assert main(["report", "experiment", "--database-url", database_url]) == 0
    assert "exactly two arms, found 1: model" in capsys.readouterr().out


@pytest.mark.parametrize(("baseline_ctr", "treatment_ctr"), [(0.10, 0.10), (0.10, 0.13), (0.20, 0.16)])
def test_the_experiment_verdict_is_right_in_95_percent_of_seeded_runs(baseline_ctr: float,
                                                                      treatment_ctr: float) -> None:
    """Simulated arms with known list CTRs, 5,000 list views each, at the 99% level: a real difference of 3
    or 4 points is found, none is claimed when there is none (the issue's target: right in >= 95% of runs)."""
    rng = np.random.default_rng(26)
    right = 0
    for _ in range(400):
        clicked = rng.binomial(5000, [baseline_ctr, treatment_ctr])
        arms = [VersionStats(name, 5000, int(c), 15000, int(c)) for name, c in zip(("model", "learned"), clicked,
                                                                                    strict=True)]
        comparison = compare_arms(*arms, confidence=0.99)
        right += comparison.significant == (baseline_ctr != treatment_ctr)
        low, high = comparison.difference_interval
        assert low < comparison.difference < high
    assert right / 400 >= 0.95
