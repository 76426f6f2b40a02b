"""Editorial overrides as plain data: pinned stories first, blocked and excluded stories never.

The rules an editor sets are stored outside model versions (the service and the CLI read them from
the database); this module only knows what they mean for one list:
- a pinned story is shown first, in the editor's order, whatever its score — unless it is blocked
  under the article, excluded everywhere, the article itself, asked to be left out by the caller, or
  not in the served model (then it is *inactive*: kept, never served);
- the model fills the places the pins leave, never repeating a pinned story;
- a blocked or excluded story never appears, whether the model or an editor put it there.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import Literal

MAX_PINS = 10
Source = Literal["pinned", "model"]
InactiveReason = Literal["not_in_model", "blocked", "excluded", "same_article", "article_not_in_model"]


@dataclass(frozen=True)
class ArticleRules:
    """The overrides that shape one article's list: its pins, and every story it must never show."""

    pins: tuple[str, ...] = ()
    blocked: frozenset[str] = frozenset()
    excluded: frozenset[str] = frozenset()

    @property
    def never(self) -> frozenset[str]:
        """Stories this list must not show, whoever picked them."""
        return self.blocked | self.excluded if self.blocked else self.excluded


NO_RULES = ArticleRules()


@dataclass(frozen=True)
class Overrides:
    """Every override at one revision; blocks are directed (a both-ways block is two entries)."""

    revision: int = 0
    pins: Mapping[str, tuple[str, ...]] = field(default_factory=lambda: MappingProxyType({}))
    blocks: Mapping[str, frozenset[str]] = field(default_factory=lambda: MappingProxyType({}))
    exclusions: frozenset[str] = frozenset()

    def rules_for(self, article_id: str | None) -> ArticleRules:
        """The rules of one article's list; a text query without an article gets the exclusions only."""
        if article_id is None:
            return ArticleRules(excluded=self.exclusions) if self.exclusions else NO_RULES
        pins = self.pins.get(article_id, ())
        blocked = self.blocks.get(article_id, frozenset())
        return ArticleRules(pins, blocked, self.exclusions) if pins or blocked or self.exclusions else NO_RULES


def inactive_reason(
    article_id: str | None, story_id: str, rules: ArticleRules, in_model: Callable[[str], bool]
) -> InactiveReason | None:
    """Why a pin cannot be served now (None: it is served)."""
    if story_id == article_id:
        return "same_article"
    if not in_model(story_id):
        return "not_in_model"
    if story_id in rules.excluded:
        return "excluded"
    if story_id in rules.blocked:
        return "blocked"
    return None


def served_pins(
    article_id: str | None, rules: ArticleRules, in_model: Callable[[str], bool], *, leave_out: frozenset[str],
    limit: int,
) -> list[str]:
    """The pins to show, in the editor's order: active ones the caller did not leave out, at most `limit`."""
    served: list[str] = []
    for story_id in rules.pins:
        if len(served) == limit:
            break
        if story_id in leave_out or story_id in served or inactive_reason(article_id, story_id, rules, in_model):
            continue
        served.append(story_id)
    return served


def build_overrides(
    revision: int,
    pins: Mapping[str, Iterable[str]],
    blocks: Iterable[tuple[str, str]],
    exclusions: Iterable[str],
) -> Overrides:
    """An immutable snapshot from plain rows: pins by article, (article, story) blocks, excluded stories."""
    blocked: dict[str, set[str]] = {}
    for article_id, story_id in blocks:
        blocked.setdefault(article_id, set()).add(story_id)
    return Overrides(
        revision=revision,
        pins=MappingProxyType({a: tuple(s) for a, s in pins.items() if s}),
        blocks=MappingProxyType({a: frozenset(s) for a, s in blocked.items()}),
        exclusions=frozenset(exclusions),
    )


def pin_problems(article_id: str, story_ids: Sequence[str]) -> list[str]:
    """What is wrong with a pin list (empty: nothing); unknown ids are the caller's check."""
    problems = []
    if len(story_ids) > MAX_PINS:
        problems.append(f"at most {MAX_PINS} pins per article, got {len(story_ids)}")
    if len(set(story_ids)) != len(story_ids):
        problems.append("a story is pinned twice")
    if article_id in story_ids:
        problems.append(f"{article_id!r} cannot be pinned under itself")
    return problems


def pin_states(overrides: Overrides, article_id: str, in_model: Callable[[str], bool]) -> list[tuple[str, str | None]]:
    """Each pin of the article with why it is not served (None: it is), for the editor page and the CLI."""
    rules = overrides.rules_for(article_id)
    page_missing = not in_model(article_id)
    return [(story, "article_not_in_model" if page_missing else inactive_reason(article_id, story, rules, in_model))
            for story in overrides.pins.get(article_id, ())]
