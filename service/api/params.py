"""Request parameters → `RankingOptions`, with a 400 naming the parameter for every bad value.

The same parser reads query strings (all values are strings) and JSON bodies (numbers, booleans,
lists), so every endpoint accepts the ranking options the same way.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any

from recommender.ranking import DEFAULT_DUPLICATE_THRESHOLD, DEFAULT_MIN_SCORE, RankingOptions
from service.api.fallback import FALLBACKS, Fallback
from service.pipeline.errors import ApiError

MAX_EXCLUDE = 500
MAX_DAYS = 1e6
_TRUE, _FALSE = {"1", "true", "yes", "on"}, {"0", "false", "no", "off"}


def ranking_options(params: Mapping[str, Any], *, default_limit: int, max_limit: int) -> RankingOptions:
    """Validated ranking options; unknown parameters are ignored."""
    dedup = _bool(params, "dedup", default=True)
    return RankingOptions(
        limit=_int(params, "limit", default=min(default_limit, max_limit), low=1, high=max_limit),
        exclude=frozenset(_id_list(params, "exclude")),
        min_score=_float(params, "min_score", default=DEFAULT_MIN_SCORE, low=0.0, high=1.0),
        duplicate_threshold=DEFAULT_DUPLICATE_THRESHOLD if dedup else None,
        max_age_days=_float(params, "max_age_days", default=None, low=0.0, high=MAX_DAYS, open_low=True),
        half_life_days=_float(params, "half_life_days", default=None, low=0.0, high=MAX_DAYS, open_low=True),
        diversity=_float(params, "diversity", default=0.0, low=0.0, high=1.0),
        category=_choice(params, "category", ("any", "prefer", "same"), default="any"),
        lang=_choice(params, "lang", ("same", "any"), default="same"),
        exclude_categories=frozenset(_id_list(params, "exclude_category")),
    )


def fallback_choice(params: Mapping[str, Any]) -> Fallback | None:
    """What to show when nothing is related (`fallback=recent|popular`); None (the default): nothing."""
    return _choice(params, "fallback", FALLBACKS, default=None)


def explain_flag(params: Mapping[str, Any]) -> bool:
    return _bool(params, "explain", default=False)


def canonical(options: RankingOptions, *, explain: bool) -> dict[str, Any]:
    """Every option that shapes a response, for cache keys (sorted later by the cache)."""
    return {
        "limit": options.limit,
        "exclude": ",".join(sorted(options.exclude)),
        "min_score": options.min_score,
        "dedup": options.duplicate_threshold is not None,
        "max_age_days": options.max_age_days,
        "half_life_days": options.half_life_days,
        "diversity": options.diversity,
        "category": options.category,
        "lang": options.lang,
        "exclude_category": ",".join(sorted(options.exclude_categories)),
        "explain": explain,
    }


def iso_datetime(params: Mapping[str, Any], name: str) -> datetime | None:
    """An optional ISO 8601 date-time; no zone means UTC."""
    raw = params.get(name)
    if raw is None or raw == "":
        return None
    try:
        value = datetime.fromisoformat(raw) if isinstance(raw, str) else None
    except ValueError:
        value = None
    if value is None:
        raise invalid(name, f"must be an ISO 8601 date, got {raw!r}")
    return value.replace(tzinfo=UTC) if value.tzinfo is None else value


def invalid(name: str, message: str) -> ApiError:
    return ApiError(400, "invalid_parameter", f"{name} {message}")


def _int(params: Mapping[str, Any], name: str, *, default: int, low: int, high: int) -> int:
    """An integer in JSON Schema's sense: `5`, `5.0` and `"5.0"` are all 5 (the OpenAPI document says integer)."""
    raw = params.get(name)
    if raw is None:
        return default
    if isinstance(raw, bool) or not isinstance(raw, int | float | str):
        raise invalid(name, f"must be an integer, got {raw!r}")
    try:
        number = float(raw) if isinstance(raw, str | float) else raw
    except ValueError:
        number = None
    if number is None or not (isinstance(number, int) or (math.isfinite(number) and number.is_integer())):
        raise invalid(name, f"must be an integer, got {raw!r}")
    value = int(number)
    if not low <= value <= high:
        raise invalid(name, f"must be between {low} and {high}, got {value}")
    return value


def _float(
    params: Mapping[str, Any], name: str, *, default: float | None, low: float, high: float, open_low: bool = False
) -> float | None:
    raw = params.get(name)
    if raw is None or raw == "":
        return default
    if isinstance(raw, bool) or not isinstance(raw, int | float | str):
        raise invalid(name, f"must be a number, got {raw!r}")
    try:
        value = float(raw)
    except ValueError:
        raise invalid(name, f"must be a number, got {raw!r}") from None
    if not math.isfinite(value) or value > high or value < low or (open_low and value == low):
        bound = f"greater than {low:g}" if open_low else f"at least {low:g}"
        raise invalid(name, f"must be {bound} and at most {high:g}, got {raw!r}")
    return value


def _bool(params: Mapping[str, Any], name: str, *, default: bool) -> bool:
    raw = params.get(name)
    if raw is None:
        return default
    if isinstance(raw, bool):
        return raw
    if isinstance(raw, str) and raw.lower() in _TRUE | _FALSE:
        return raw.lower() in _TRUE
    raise invalid(name, f"must be true or false, got {raw!r}")


def _choice(params: Mapping[str, Any], name: str, choices: tuple[str, ...], *, default: str) -> Any:
    raw = params.get(name)
    if raw is None:
        return default
    if raw not in choices:
        raise invalid(name, f"must be one of {', '.join(choices)}, got {raw!r}")
    return raw


def _id_list(params: Mapping[str, Any], name: str) -> list[str]:
    raw = params.get(name)
    if raw is None or raw == "":
        return []
    if isinstance(raw, str):
        ids = [part.strip() for part in raw.split(",") if part.strip()]
    elif isinstance(raw, list) and all(isinstance(i, str) for i in raw):
        ids = raw
    else:
        raise invalid(name, "must be a comma-separated string or a list of ids")
    if len(ids) > MAX_EXCLUDE:
        raise invalid(name, f"may hold at most {MAX_EXCLUDE} ids, got {len(ids)}")
    return ids
