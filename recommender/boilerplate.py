"""Site boilerplate: whole sentences repeated verbatim across many articles, left out of the vectors.

Image credits, share and newsletter boxes, author bios and "Read more:" lines survive HTML cleaning
as text, and every story that carries one shares its terms with every other: unrelated stories meet.
Terms in more than half the corpus are cut by the vectorizer's `max_df`, but a block that recurs in 5
to 40 % of articles is not. So at train time the bodies are cut into units — a line, or a sentence
of a line — compared in a normalised form (lower case, runs of white space as one space), and a
unit found in at least `min_articles` articles and `min_share` of the corpus is a block. A topic
phrase ("climate change") written inside different sentences is never a block: only a whole unit
repeated verbatim is. The learned blocks are kept with the model (an update leaves the same ones
out of new articles); the stored articles keep their text.
"""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass

MIN_ARTICLES = 5  # a sentence quoted by a few stories on one event is a real signal of relatedness
MIN_SHARE = 0.005  # and so is one repeated by a handful of articles in a large archive
_SENTENCE_END = re.compile(r"(?<=[.!?…。！？])\s+")
_SPACES = re.compile(r"\s+")


def units(line: str) -> list[str]:
    """A line's sentences (the line itself when it has one)."""
    return [s for s in _SENTENCE_END.split(line) if s.strip()]


def normalised(unit: str) -> str:
    return _SPACES.sub(" ", unit).strip().lower()


@dataclass(frozen=True)
class Boilerplate:
    """The learned blocks (normalised units) and how many articles each was found in."""

    blocks: dict[str, int]

    @classmethod
    def learn(cls, bodies: Iterable[str], n_articles: int, *, min_articles: int = MIN_ARTICLES,
              min_share: float = MIN_SHARE) -> Boilerplate:
        """The units found in at least `max(min_articles, min_share × n_articles)` of the bodies.

        Counted by hash (one set of ints per article); a unit's text is kept only from its second
        article on, so memory follows the repeated units, not the corpus."""
        counts: Counter[int] = Counter()
        texts: dict[int, str] = {}
        for body in bodies:
            seen = {hash(normalised(u)): u for line in body.splitlines() for u in units(line)}
            counts.update(seen.keys())
            for key, unit in seen.items():
                if key not in texts and counts[key] == 2:
                    texts[key] = normalised(unit)
        floor = max(min_articles, min_share * n_articles)
        blocks = {texts[key]: count for key, count in counts.items() if count >= floor and count >= 2}
        return cls(dict(sorted(blocks.items(), key=lambda item: (-item[1], item[0]))))

    def strip(self, body: str) -> str:
        """The body without its blocks (each line keeps its other sentences)."""
        if not self.blocks:
            return body
        kept_lines = []
        for line in body.splitlines():
            parts = units(line)
            kept = [u for u in parts if normalised(u) not in self.blocks]
            if len(kept) == len(parts):
                kept_lines.append(line)
            elif kept:
                kept_lines.append(" ".join(kept))
        return "\n".join(kept_lines)

    def summary(self, shown: int = 5) -> str:
        """`3 blocks left out ("image credits: nasa" in 412 articles, …)` for train summaries."""
        if not self.blocks:
            return "no repeated blocks"
        listed = ", ".join(f"{_short(text)!r} in {count}" for text, count in list(self.blocks.items())[:shown])
        more = f", and {len(self.blocks) - shown} more" if len(self.blocks) > shown else ""
        return f"{len(self.blocks)} repeated block(s) left out of the vectors ({listed}{more})"


NO_BOILERPLATE = Boilerplate({})


def _short(text: str, width: int = 60) -> str:
    return text if len(text) <= width else text[: width - 1] + "…"
