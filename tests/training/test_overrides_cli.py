"""`relatedly pin | unpin | block | unblock | exclude | include | overrides list` on SQLite and PostgreSQL."""

from __future__ import annotations

from pathlib import Path

import pytest

from service import create_app
from service.config import Settings
from tests.conftest import SAMPLE_CORPUS, SPACE_STATION_ID
from training.cli import main

BIRDS = "why-birds-sing-loudest-at-dawn"


@pytest.fixture()
def cli(models_dir: Path, database_url: str, capsys: pytest.CaptureFixture[str]):
    """Run `relatedly …` against this test's models and database: (exit code, stdout, stderr)."""

    def run(*argv: str) -> tuple[int, str, str]:
        common = ["--models-dir", str(models_dir), "--database-url", database_url]
        code = main([*argv, *common] if argv[0] not in ("train", "models") else list(argv))
        out, err = capsys.readouterr()
        return code, out, err

    return run


def served(models_dir: Path, database_url: str, article_id: str = SPACE_STATION_ID, limit: int = 5) -> list[dict]:
    app = create_app(Settings(models_dir=str(models_dir), database_url=database_url), watch=False)
    return app.test_client().get(f"/v1/articles/{article_id}/related?limit={limit}").get_json()["related"]


def test_pins_blocks_and_exclusions_from_the_command_line(cli, models_dir: Path, database_url: str) -> None:
    plain = [i["id"] for i in served(models_dir, database_url)]
    assert cli("pin", SPACE_STATION_ID, BIRDS)[0] == 0
    assert cli("pin", SPACE_STATION_ID, plain[3])[0] == 0  # appended after the first pin
    assert cli("block", SPACE_STATION_ID, plain[0], "--both-ways")[0] == 0
    code, out, _ = cli("exclude", plain[1], "--reason", "sponsored")
    assert code == 0 and "revision 4" in out
    items = served(models_dir, database_url)
    assert [i["id"] for i in items][:2] == [BIRDS, plain[3]] and items[0]["source"] == "pinned"
    assert not {plain[0], plain[1]} & {i["id"] for i in items}
    assert SPACE_STATION_ID not in [i["id"] for i in served(models_dir, database_url, plain[0], 50)]

    code, out, _ = cli("related", SPACE_STATION_ID, "--limit", "3")
    listed = out.split("3 related stories found\n")[1].splitlines()
    assert code == 0 and listed[0].endswith(f"{BIRDS}  Why Birds Sing Loudest at Dawn  [pinned]")
    assert listed[1].split()[2] == plain[3] and not {plain[0], plain[1]} & {line.split()[2] for line in listed}
    assert cli("pin", SPACE_STATION_ID, plain[3], BIRDS, "--replace")[0] == 0
    assert [i["id"] for i in served(models_dir, database_url)][:2] == [plain[3], BIRDS]
    assert cli("unpin", SPACE_STATION_ID, plain[3])[0] == 0
    assert cli("unblock", SPACE_STATION_ID, plain[0], "--both-ways")[0] == 0
    assert cli("include", plain[1])[0] == 0
    code, out, _ = cli("overrides", "list", "--audit", "10")
    assert code == 0
    assert f"  {SPACE_STATION_ID}\n     1. {BIRDS}\n" in out
    assert "blocks (0)" in out and "exclusions (0)" in out
    assert "include" in out and "cli:" in out


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (("pin", SPACE_STATION_ID, "no-such-story"), "not in model"),
        (("pin", "no-such-page", BIRDS), "not in model"),
        (("pin", SPACE_STATION_ID, SPACE_STATION_ID), "cannot be pinned under itself"),
        (("pin", SPACE_STATION_ID, *[f"s{i}" for i in range(11)], "--allow-inactive"), "at most 10 pins"),
        (("unpin", SPACE_STATION_ID), "has no pins"),
        (("block", BIRDS, BIRDS), "blocked under itself"),
        (("unblock", BIRDS, SPACE_STATION_ID), "is not blocked"),
        (("exclude", "no-such-story"), "not in model"),
        (("include", BIRDS), "is not excluded"),
    ],
)
def test_unknown_ids_and_bad_arguments_exit_2_with_the_reason(cli, argv, message) -> None:
    code, _, err = cli(*argv)
    assert code == 2
    assert message in err
    assert "revision 0" in cli("overrides", "list")[1]


def test_an_inactive_pin_is_listed_never_served_and_survives_train_and_rollback(
    cli, models_dir: Path, database_url: str
) -> None:
    assert cli("pin", SPACE_STATION_ID, "moon-base-plans", BIRDS, "--allow-inactive")[0] == 0
    assert "1. moon-base-plans  [inactive: not_in_model]" in cli("overrides", "list")[1]
    assert [i["id"] for i in served(models_dir, database_url)][0] == BIRDS
    assert cli("train", "--corpus", str(SAMPLE_CORPUS), "--models-dir", str(models_dir))[0] == 0
    assert cli("models", "--models-dir", str(models_dir), "rollback")[0] == 0
    items = served(models_dir, database_url, limit=50)
    assert items[0]["id"] == BIRDS and "moon-base-plans" not in [i["id"] for i in items]
    assert "moon-base-plans  [inactive: not_in_model]" in cli("overrides", "list", "--article", SPACE_STATION_ID)[1]
