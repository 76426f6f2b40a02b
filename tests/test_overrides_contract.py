"""Contract: `relatedly pin` changes what every worker of `relatedly serve` answers, at the next request."""

from __future__ import annotations

import subprocess

from tests.conftest import SPACE_STATION_ID
from tests.test_contract import RELATEDLY, _get, served  # noqa: F401  (served is the fixture)

BIRDS = "why-birds-sing-loudest-at-dawn"


def test_a_pin_reaches_every_worker_at_the_next_request(served) -> None:  # noqa: F811
    base, env, _ = served
    url = f"{base}/v1/articles/{SPACE_STATION_ID}/related?limit=3"
    before = {tuple(item["id"] for item in _get(url)[2]["related"]) for _ in range(20)}  # both workers, cached
    assert len(before) == 1 and BIRDS not in next(iter(before))
    # no Redis announcement: the revision file alone must reach both workers
    pinned = subprocess.run([RELATEDLY, "pin", SPACE_STATION_ID, BIRDS, "--redis-url", ""], env=env,
                            capture_output=True, text=True, timeout=60)
    assert pinned.returncode == 0, pinned.stderr
    after = [_get(url)[2]["related"] for _ in range(20)]
    assert all(items[0]["id"] == BIRDS and items[0]["source"] == "pinned" for items in after)
    assert {tuple(i["id"] for i in items[1:]) for items in after} == {next(iter(before))[:2]}
