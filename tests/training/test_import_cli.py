"""The CLI on real exports: `relatedly import`, `train --corpus` with several parts, refusals, `related --url`."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from recommender import artifacts
from recommender.corpus import load_corpus
from training.cli import main

FIXTURES = Path(__file__).parents[1] / "recommender" / "fixtures" / "exports"
PARTS = [str(FIXTURES / "wxr-part1.xml"), str(FIXTURES / "wxr-part2.xml")]
LEFT_OUT = ("left out: 2 type attachment, 1 password protected, 1 status draft, 1 status future, 1 status pending,"
            " 1 status private, 1 status trash, 1 type nav_menu_item, 1 type page, 1 type revision, 1 type wp_block")


def test_import_writes_the_records_train_would_see(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    out = tmp_path / "corpus.jsonl"
    assert main(["import", *PARTS, "--out", str(out), "--skip-invalid"]) == 0
    printed = capsys.readouterr().out
    assert f"imported 5 articles (3 invalid skipped) from {', '.join(PARTS)} into {out}" in printed
    assert f"skipped: {PARTS[1]}:60: item 106: missing field 'title'" in printed
    assert LEFT_OUT in printed
    records = [json.loads(line) for line in out.read_text().splitlines()]
    assert [r["id"] for r in records] == ["101", "102", "103", "104", "105"]
    assert records[0]["image"] == "https://reefnotes.example/wp-content/uploads/2024/03/reef.jpg"
    assert records[0]["published_at"] == "2024-03-04T09:30:00Z" and records[0]["language"] == "en"
    # the written corpus reads back to the very same articles
    assert load_corpus(out).articles == load_corpus(PARTS, skip_invalid=True).articles


def test_import_of_a_bad_export_exits_2_and_writes_nothing(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    out = tmp_path / "corpus.jsonl"
    assert main(["import", *PARTS, "--out", str(out)]) == 2
    err = capsys.readouterr().err
    assert f"{PARTS[1]}:48: item 102: duplicate id '102'" in err
    assert not out.exists() and list(tmp_path.iterdir()) == []


@pytest.mark.parametrize("name", ["wxr-xxe.xml", "wxr-billion-laughs.xml"])
def test_train_refuses_a_dtd_with_exit_2_and_publishes_nothing(tmp_path: Path, capsys, name: str) -> None:
    models = tmp_path / "models"
    assert main(["train", "--corpus", str(FIXTURES / name), "--models-dir", str(models), "--skip-invalid"]) == 2
    err = capsys.readouterr().err
    assert f"{FIXTURES / name}:2: refused: the file declares a DOCTYPE" in err
    assert "Traceback" not in err and artifacts.read_current(models) is None


def test_train_on_split_wxr_then_related_by_url(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    models = str(tmp_path / "models")
    assert main(["train", "--corpus", *PARTS, "--models-dir", models, "--skip-invalid", "--top-k", "4"]) == 0
    printed = capsys.readouterr().out
    assert "5 articles (3 skipped)" in printed and LEFT_OUT in printed

    assert main(["related", "--url", "http://www.reefnotes.example/2023/11/kelp-forests/?utm_source=rss",
                 "--models-dir", models, "--min-score", "0"]) == 0
    printed = capsys.readouterr().out
    assert printed.startswith("102: Kelp forests in the classic editor")
    assert "101  Café & science: coral “bleaching” explained" in printed

    assert main(["related", "--url", "https://reefnotes.example/nowhere/", "--models-dir", models]) == 2
    assert "no article with the URL 'https://reefnotes.example/nowhere/'" in capsys.readouterr().err
    assert main(["related", "102", "--url", "https://reefnotes.example/x", "--models-dir", models]) == 2


def test_post_types_and_statuses_flags(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    out = tmp_path / "corpus.jsonl"
    assert main(["import", PARTS[0], "--out", str(out), "--post-types", "post,page", "--statuses",
                 "publish,draft"]) == 0
    assert {"110", "120"} <= {json.loads(line)["id"] for line in out.read_text().splitlines()}
    assert "1 status pending" in capsys.readouterr().out


def test_body_format_text_keeps_the_markup(tmp_path: Path) -> None:
    out = tmp_path / "corpus.jsonl"
    assert main(["import", str(FIXTURES / "html-articles.jsonl"), "--out", str(out), "--body-format", "text"]) == 0
    assert json.loads(out.read_text().splitlines()[0])["title"] == "Caf&eacute; &amp; science"
