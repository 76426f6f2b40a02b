"""What a list view may vary for learning from readers: the experiment arm, and one explored slot.

- Experiment (`RELATEDLY_EXPERIMENT=learning`): list views are split between arm `learned` (the lists
  `relatedly learn` published) and arm `model` (the model's own lists) by a hash of the article id and
  the UTC day: no cookie, no reader id, and one article shows one arm to everyone for a day (so a CDN's
  copy is right too). The arm is written into the response (`"arm"`), and the widget and the fragment
  send it back with their events, for `relatedly report experiment`.
- Exploration (`RELATEDLY_EXPLORE_SHARE`): that share of list views gets its last slot filled with a
  story drawn uniformly from the rest of the candidate pool (the model's next stories, under the same
  editorial rules), marked `"explored": true`, so stories the lists never show gather evidence too; the
  events record the explored slot, so the logs support unbiased off-line estimates. Such a response is
  `no-store`: a cache must never hand one reader's draw to everyone.
"""

from __future__ import annotations

import hashlib
import random
from collections.abc import Sequence
from dataclasses import replace
from datetime import UTC, date, datetime

from recommender.model import RelatedItem
from recommender.overrides import Overrides
from recommender.ranking import RankingOptions
from service.config import Settings
from service.models.store import LoadedModel

LEARNED_ARM, MODEL_ARM = "learned", "model"


def arm_of(settings: Settings, article_id: str, today: date | None = None) -> str | None:
    """The arm the article's lists are served in today (None when no experiment runs)."""
    if settings.experiment is None:
        return None
    day = (today or datetime.now(UTC).date()).isoformat()
    digest = hashlib.blake2b(f"{article_id}\0{day}".encode(), digest_size=1).digest()
    return LEARNED_ARM if digest[0] & 1 else MODEL_ARM


def with_arm(body: bytes, arm: str | None) -> bytes:
    """A rendered list document with its arm appended (a compact JSON object ends with `}`)."""
    return body if arm is None else body[:-1] + b',"arm":"' + arm.encode() + b'"}'


def explores(settings: Settings) -> bool:
    """Whether this list view explores (drawn with probability `explore_share`)."""
    return settings.explore_share > 0 and random.random() < settings.explore_share


def further_story(loaded: LoadedModel, article_id: str, options: RankingOptions, listed: Sequence[str],
                  overrides: Overrides) -> RelatedItem | None:
    """A story drawn uniformly from the article's candidate pool (twice the list, under the editorial rules)
    beyond the `listed` ones; None when there is none."""
    pool = loaded.model.related(article_id, replace(options, limit=min(2 * options.limit, loaded.model.top_k)),
                                rules=overrides.rules_for(article_id))
    shown = set(listed)
    further = [item for item in pool if item.article.id not in shown and item.source == "model"]
    return further[random.randrange(len(further))] if further else None
