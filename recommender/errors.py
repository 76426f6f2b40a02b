"""The exception tree every layer maps to exit codes or HTTP statuses."""

from __future__ import annotations

from dataclasses import dataclass


class RelatedlyError(Exception):
    """Base class of every error Relatedly raises on purpose."""


@dataclass(frozen=True)
class CorpusProblem:
    """One bad row of a corpus export, located so a person can fix it."""

    path: str
    line: int
    reason: str

    def __str__(self) -> str:
        return f"{self.path}:{self.line}: {self.reason}"


class CorpusError(RelatedlyError):
    """The corpus export cannot be used as it is: carries every problem found."""

    MAX_LISTED = 20

    def __init__(self, problems: list[CorpusProblem], message: str | None = None) -> None:
        self.problems = problems
        if message is None:
            listed = "\n".join(f"  {p}" for p in problems[: self.MAX_LISTED])
            more = len(problems) - self.MAX_LISTED
            tail = f"\n  … and {more} more" if more > 0 else ""
            message = f"{len(problems)} invalid row(s) in the corpus:\n{listed}{tail}"
        super().__init__(message)

    @classmethod
    def at(cls, path: str, line: int, reason: str) -> CorpusError:
        """A whole file cannot be used (malformed XML or JSON, a refused DTD): `file:line: reason`."""
        problem = CorpusProblem(path, line, reason)
        return cls([problem], str(problem))


class UnknownArticleError(RelatedlyError, KeyError):
    """An article id the model does not know: an error, never an empty list."""

    def __init__(self, article_id: str) -> None:
        self.article_id = article_id
        super().__init__(article_id)

    def __str__(self) -> str:
        return f"unknown article id: {self.article_id!r}"


class ArtifactError(RelatedlyError):
    """A model directory is missing, incomplete, tampered with or from other library versions."""
