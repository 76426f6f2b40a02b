"""The only module that knows the on-disk layout of published models.

    MODELS_DIR/versions/<version>/manifest.json      recipe, checksums, library versions (written last)
                                  vectorizer.joblib  the fitted TfidfVectorizer and TruncatedSVD (LSA), the terms,
                                                     the site's boilerplate sentences (absent in older versions)
                                  components.npy     the LSA components, terms × components (numpy; absent
                                                     without LSA, inside vectorizer.joblib before format 3)
                                  matrix.npz         the articles' TF-IDF rows (scipy sparse, no pickle)
                                  lsa.npy            the articles' LSA vectors (numpy, no pickle): the rows
                                                     of the first dense space (`recommender.spaces`); any
                                                     other space's rows would be beside it as <name>.npy
                                  neighbors.npz      top-K indices and scores (numpy, no pickle)
                                  articles.json      ids and metadata (JSON columns, one value a line)
                                  default_indices.npy, default_scores.npy  every article's list under
                                                     the default options (numpy; absent in older versions)
                                  default_bodies.bin, default_offsets.npy  (versions of 2026-12; ignored:
                                                     the service renders responses itself)
    MODELS_DIR/CURRENT                               the served version's name

A version is written under a temporary name and renamed when complete; `CURRENT` is switched with
`os.replace`. A crash at any moment therefore leaves the previous model current and intact.
Version directories are immutable: rollback is publishing an older one.
"""

from __future__ import annotations

import contextlib
import copy
import fcntl
import hashlib
import importlib.metadata
import json
import mmap
import os
import platform
import secrets
import shutil
import time
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import joblib
import numpy as np
import scipy
import scipy.sparse as sp
import sklearn
from sklearn.decomposition import TruncatedSVD
from sklearn.feature_extraction.text import TfidfVectorizer

from recommender.boilerplate import Boilerplate
from recommender.catalog import ArticleCatalog
from recommender.default_lists import DefaultLists, compute_default_lists
from recommender.errors import ArtifactError
from recommender.model import RelatedModel
from recommender.neighbors import NeighborTable
from recommender.term_index import TermIndex
from recommender.vectorize import ArticleVectorizer, VectorizerParams, Vectors

FORMAT = "relatedly-model/3"  # 2: the vocabulary is not a dict; 3: the LSA components in components.npy
# Formats this code loads. Older code refuses a newer version by name instead of failing on the missing
# vocabulary (format 2) or components (format 3).
READABLE_FORMATS = ("relatedly-model/1", "relatedly-model/2", FORMAT)
VERSIONS = "versions"
CURRENT = "CURRENT"
MANIFEST = "manifest.json"
TMP_PREFIX = ".tmp-"
STALE_TMP_SECONDS = 3600
LOCK_FILE = ".publish.lock"  # serialises read-modify-publish jobs (train, update, remove)
PUBLISH_CHANNEL = "relatedly:models"  # where jobs announce a newly current version to running services
FILES = ("vectorizer.joblib", "matrix.npz", "lsa.npy", "neighbors.npz", "articles.json")
DEFAULT_LIST_FILES = ("default_indices.npy", "default_scores.npy")  # optional: older versions lack them
COMPONENTS_FILE = "components.npy"  # only with LSA
SLAB_BYTES = 64 * 2**20  # the components are copied into a version this much at a time


def library_versions() -> dict[str, str]:
    """Versions that must match between training and serving (scikit-learn's pickles depend on
    them), and Relatedly's own, to tell which code wrote a version."""
    return {
        "relatedly": importlib.metadata.version("relatedly"),
        "python": platform.python_version(),
        "scikit-learn": sklearn.__version__,
        "numpy": np.__version__,
        "scipy": scipy.__version__,
        "joblib": joblib.__version__,
    }


def save_version(model: RelatedModel, models_dir: str | Path, *, info: dict[str, Any]) -> str:
    """Write a complete, immutable version directory and return its name; `CURRENT` is not touched.

    `info` (corpus checksum, counts, timings…) is recorded in the manifest as given.
    """
    versions_dir = Path(models_dir) / VERSIONS
    versions_dir.mkdir(parents=True, exist_ok=True)
    created = datetime.now(UTC)
    version = f"{created:%Y%m%dT%H%M%S%fZ}-{secrets.token_hex(3)}"  # sorts by creation time
    tmp = versions_dir / f"{TMP_PREFIX}{version}"
    tmp.mkdir()
    try:
        joblib.dump(_vectorizer_parts(model.vectorizer_), tmp / "vectorizer.joblib")
        svd = model.vectorizer_.svd_
        if svd is not None:
            _save_terms(svd.components_.T, tmp / COMPONENTS_FILE)
        sp.save_npz(tmp / "matrix.npz", model.vectors_.tfidf, compressed=False)
        for name, rows in model.vectors_.dense.items():
            np.save(tmp / _rows_file(name), rows, allow_pickle=False)
        np.savez(tmp / "neighbors.npz", indices=model.neighbors_.indices, scores=model.neighbors_.scores)
        _write_catalog(tmp / "articles.json", model.catalog_.to_columns())
        defaults = compute_default_lists(model)
        np.save(tmp / DEFAULT_LIST_FILES[0], defaults.indices, allow_pickle=False)
        np.save(tmp / DEFAULT_LIST_FILES[1], defaults.scores, allow_pickle=False)
        more_rows = tuple(_rows_file(name) for name in model.vectors_.dense if _rows_file(name) not in FILES)
        stored = FILES + more_rows + (() if svd is None else (COMPONENTS_FILE,)) + DEFAULT_LIST_FILES
        manifest = {
            "format": FORMAT,
            "version": version,
            "created_at": created.isoformat().replace("+00:00", "Z"),
            "n_articles": model.n_articles,
            "vocabulary_size": model.vectorizer_.vocabulary_size,
            "parameters": {"top_k": model.top_k, "vectorizer": model.params.as_dict()},
            "libraries": library_versions(),
            "files": {name: _file_record(tmp / name) for name in stored},
            "default_lists": {"limit": defaults.limit},
            **info,
        }
        for name in stored:
            _fsync_file(tmp / name)
        _write_json(tmp / MANIFEST, manifest, durable=True)
        _fsync_dir(tmp)
        os.rename(tmp, versions_dir / version)
        _fsync_dir(versions_dir)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    return version


def _rows_file(space: str) -> str:
    """The file of a dense space's rows (LSA's: lsa.npy, one of `FILES`)."""
    return f"{space}.npy"


def _vectorizer_parts(vectorizer: ArticleVectorizer) -> dict[str, Any]:
    """What vectorizer.joblib holds: the fitted TF-IDF and LSA, the LSA without its components, and
    the boilerplate blocks as a plain dict (sentence → articles; a version without it learned none).

    The vocabulary is a `TermIndex` (two arrays, memory-mapped at load like the LSA components), so
    loading it costs neither the seconds nor the memory of a dict of terms. Older versions, with the
    dict inside the TfidfVectorizer or the terms as one newline-joined string ("terms"), load as before.
    The components go to components.npy (`_save_terms`): pickling them would read a spilled or
    memory-mapped array whole into memory (1.8 GB at 300k synthetic articles).
    """
    svd = vectorizer.svd_
    if svd is not None:
        svd = copy.copy(svd)
        del svd.components_
    return {"tfidf": vectorizer.tfidf_, "svd": svd, "boilerplate": dict(vectorizer.boilerplate.blocks)}


def _save_terms(terms: np.ndarray, path: Path) -> None:
    """The LSA components, terms × components float32, as .npy written a slab of terms at a time. The
    pages of a memory-mapped source (the train's spilled components, a loaded version's for an update)
    are given back after each slab, so the save never holds the array resident."""
    rows = max(1, SLAB_BYTES // (4 * max(1, terms.shape[1])))
    with open(path, "wb") as fh:
        np.lib.format.write_array_header_1_0(fh, {"descr": "<f4", "fortran_order": False, "shape": terms.shape})
        for start in range(0, len(terms), rows):
            slab = np.ascontiguousarray(terms[start : start + rows], dtype="<f4")
            fh.write(memoryview(slab).cast("B"))
            _release(slab)


def _release(view: np.ndarray) -> None:
    """Drop a contiguous view of a read-only file map from this process's resident memory (its pages stay
    in the file and the page cache); nothing for any other array."""
    mapping = view.base
    while mapping is not None and not isinstance(mapping, mmap.mmap):
        mapping = getattr(mapping, "base", None)
    if mapping is None or not view.flags.c_contiguous:
        return
    offset = view.ctypes.data - np.frombuffer(mapping, dtype=np.uint8).ctypes.data
    first = offset - offset % mmap.PAGESIZE
    mapping.madvise(mmap.MADV_DONTNEED, first, offset + view.nbytes - first)


def publish(models_dir: str | Path, version: str) -> None:
    """Make `version` the served model by atomically replacing the `CURRENT` pointer."""
    models_dir = Path(models_dir)
    read_manifest(models_dir, version)  # refuse to point at something that is not a complete version
    tmp = models_dir / f"{TMP_PREFIX}{CURRENT}-{os.getpid()}-{secrets.token_hex(3)}"
    try:
        with open(tmp, "w", encoding="utf-8") as fh:
            fh.write(version + "\n")
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, models_dir / CURRENT)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
    _fsync_dir(models_dir)


def read_current(models_dir: str | Path) -> str | None:
    """The published version's name, or None when nothing has been published yet."""
    try:
        text = (Path(models_dir) / CURRENT).read_text(encoding="utf-8").strip()
    except FileNotFoundError:
        return None
    except OSError as exc:
        raise ArtifactError(f"cannot read {Path(models_dir) / CURRENT}: {exc}") from exc
    return text or None


def list_versions(models_dir: str | Path) -> list[str]:
    """Complete version directories, oldest first (names sort by creation time)."""
    versions_dir = Path(models_dir) / VERSIONS
    if not versions_dir.is_dir():
        return []
    return sorted(p.name for p in versions_dir.iterdir() if not p.name.startswith(".") and p.is_dir())


def read_manifest(models_dir: str | Path, version: str) -> dict[str, Any]:
    """The manifest of a complete version; `ArtifactError` if the version is missing or incomplete."""
    if not version or "/" in version or version.startswith("."):
        raise ArtifactError(f"invalid model version name {version!r}")
    path = Path(models_dir) / VERSIONS / version / MANIFEST
    try:
        manifest = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise ArtifactError(f"model version {version!r} not found in {models_dir}") from None
    except (OSError, ValueError) as exc:
        raise ArtifactError(f"unreadable manifest {path}: {exc}") from exc
    if manifest.get("format") not in READABLE_FORMATS or manifest.get("version") != version:
        raise ArtifactError(f"{path} is not a {' or '.join(READABLE_FORMATS)} manifest for version {version!r}")
    return manifest


def load_version(models_dir: str | Path, version: str) -> tuple[RelatedModel, dict[str, Any]]:
    """Verify a version's checksums and library versions, then load it."""
    manifest = read_manifest(models_dir, version)
    try:
        return _load_verified(Path(models_dir) / VERSIONS / version, manifest), manifest
    except ArtifactError:
        raise
    except (OSError, ValueError, KeyError, TypeError, AttributeError) as exc:
        raise ArtifactError(f"model {version} cannot be loaded: {type(exc).__name__}: {exc}") from exc


def read_article_ids(models_dir: str | Path, version: str) -> list[str]:
    """The ids a version serves, checksum verified, without loading the model (for the override commands)."""
    manifest = read_manifest(models_dir, version)
    path = Path(models_dir) / VERSIONS / version / "articles.json"
    if not path.is_file() or _sha256(path) != manifest["files"]["articles.json"]["sha256"]:
        raise ArtifactError(f"model {version}: articles.json is missing or does not match its checksum")
    return _read_catalog(path.read_text(encoding="utf-8"))["ids"]


def _load_verified(directory: Path, manifest: dict[str, Any]) -> RelatedModel:
    version = manifest["version"]
    trained_with = manifest["libraries"]["scikit-learn"]
    if trained_with != sklearn.__version__:
        raise ArtifactError(
            f"model {version} was trained with scikit-learn {trained_with}, this process has "
            f"{sklearn.__version__}: retrain or install the same version"
        )
    _verify(directory, manifest, FILES)
    # Trusted: checksums verified above. Memory-mapped: the LSA components (V × d floats) are not read
    # at load, which a model switch under load waits for, and the workers share their pages.
    fitted = joblib.load(directory / "vectorizer.joblib", mmap_mode="r")
    if not isinstance(fitted.get("tfidf"), TfidfVectorizer) or not isinstance(fitted.get("svd"), TruncatedSVD | None):
        raise ArtifactError(f"model {version}: vectorizer.joblib does not hold the fitted vectorizers")
    if COMPONENTS_FILE in manifest["files"]:  # format 3 (before: inside vectorizer.joblib, mapped as well)
        _verify(directory, manifest, (COMPONENTS_FILE,))
        fitted["svd"].components_ = np.load(directory / COMPONENTS_FILE, mmap_mode="r", allow_pickle=False).T
    if "terms" in fitted:
        fitted["tfidf"].vocabulary_ = TermIndex.from_terms(fitted["terms"].split("\n"))
    elif not isinstance(fitted["tfidf"].vocabulary_, TermIndex):
        fitted["tfidf"].vocabulary_ = TermIndex.from_mapping(fitted["tfidf"].vocabulary_)
    vectorizer = ArticleVectorizer(VectorizerParams(**manifest["parameters"]["vectorizer"]))
    vectorizer.tfidf_, vectorizer.svd_ = fitted["tfidf"], fitted["svd"]  # the spaces the parameters name
    vectorizer.boilerplate_ = Boilerplate(dict(fitted.get("boilerplate", {})))
    rows_files = {space.name: _rows_file(space.name) for space in vectorizer.spaces_}
    _verify(directory, manifest, tuple(name for name in rows_files.values() if name not in FILES))
    vectors = Vectors(sp.load_npz(directory / "matrix.npz").tocsr(),
                      {space: np.load(directory / name, allow_pickle=False) for space, name in rows_files.items()})
    with np.load(directory / "neighbors.npz", allow_pickle=False) as arrays:
        neighbors = NeighborTable(arrays["indices"], arrays["scores"])
    catalog = ArticleCatalog(_read_catalog((directory / "articles.json").read_text(encoding="utf-8")))
    n = len(catalog)
    if {vectors.tfidf.shape[0], *(rows.shape[0] for rows in vectors.dense.values()), neighbors.indices.shape[0]} != {n}:
        raise ArtifactError(f"model {version}: parts disagree on the number of articles")
    return RelatedModel.from_parts(
        top_k=int(manifest["parameters"]["top_k"]),
        vectorizer=vectorizer,
        vectors=vectors,
        neighbors=neighbors,
        catalog=catalog,
    )


def _write_catalog(path: Path, columns: dict[str, list[Any]]) -> None:
    """The catalogue as one JSON object of columns, each value on a line of its own, so that it loads
    in slices (`_read_catalog`) instead of one parse that holds the GIL for 100 ms per 20k articles."""
    with open(path, "w", encoding="utf-8") as fh:
        for n, (name, values) in enumerate(columns.items()):
            fh.write(f"{'],' if n else '{'}{_dumps(name)}:[\n")
            fh.write(",\n".join(map(_dumps, values)))
            fh.write("\n")
        fh.write("]}\n" if columns else "{}\n")


def _read_catalog(text: str, chunk_values: int = 2000) -> dict[str, list[Any]]:
    """The columns of `articles.json`, each parsed `chunk_values` lines at a time; a catalogue written on
    one line (versions saved before the layout of `_write_catalog`) in one parse.

    A line that starts with "]," closes a column and names the next (a value's line never starts with
    "]"), so the columns are found by splitting the text, not by looking at every line in Python.
    """
    head, _, rest = text.partition("\n")
    if not head.endswith(":["):
        return json.loads(text)
    columns: dict[str, list[Any]] = {}
    name = json.loads(head.removeprefix("{").removesuffix(":["))
    for n, segment in enumerate(rest.rstrip("\n").removesuffix("]}").split("\n],")):
        if n:
            header, _, segment = segment.partition(":[\n")
            name = json.loads(header)
        lines = segment.strip("\n").split("\n")
        values = columns[name] = []
        for start in range(0, len(lines), chunk_values):
            values.extend(json.loads("[" + "".join(lines[start : start + chunk_values]).removesuffix(",") + "]"))
    return columns


def load_default_lists(models_dir: str | Path, manifest: dict[str, Any]) -> DefaultLists | None:
    """The version's precomputed default lists, memory-mapped (the workers share their pages).

    None for a version saved before they existed; `ArtifactError` when they are damaged.
    """
    if "default_lists" not in manifest:
        return None
    version = manifest["version"]
    directory = Path(models_dir) / VERSIONS / version
    with _loading(version, "default lists"):
        _verify(directory, manifest, DEFAULT_LIST_FILES)
        # Plain arrays over the maps: indexing a np.memmap costs a subclass round trip on every request.
        indices, scores = (np.load(directory / name, mmap_mode="r", allow_pickle=False).view(np.ndarray)
                           for name in DEFAULT_LIST_FILES)
        lists = DefaultLists(indices, scores)
        lists.check(int(manifest["n_articles"]))
    return lists


@contextlib.contextmanager
def _loading(version: str, what: str) -> Iterator[None]:
    """Any failure to read a version's optional part as one `ArtifactError` naming the part."""
    try:
        yield
    except ArtifactError:
        raise
    except (OSError, ValueError, KeyError, TypeError) as exc:
        raise ArtifactError(f"model {version}: {what} cannot be loaded: {type(exc).__name__}: {exc}") from exc


def _verify(directory: Path, manifest: dict[str, Any], names: tuple[str, ...]) -> None:
    """`ArtifactError` unless every named file matches the manifest's checksum."""
    for name in names:
        if not (directory / name).is_file() or _sha256(directory / name) != manifest["files"][name]["sha256"]:
            raise ArtifactError(f"model {manifest['version']}: {name} is missing or does not match its checksum")


def prune(models_dir: str | Path, keep: int) -> list[str]:
    """Delete all but the newest `keep` versions (never the current one) and stale temporary leftovers."""
    models_dir = Path(models_dir)
    current = read_current(models_dir)
    versions = list_versions(models_dir)
    doomed = [v for v in versions[: max(0, len(versions) - max(keep, 1))] if v != current]
    for version in doomed:
        shutil.rmtree(models_dir / VERSIONS / version, ignore_errors=True)
    cutoff = time.time() - STALE_TMP_SECONDS
    leftovers = [*(models_dir / VERSIONS).glob(f"{TMP_PREFIX}*"), *models_dir.glob(f"{TMP_PREFIX}{CURRENT}-*")]
    for leftover in leftovers:
        with contextlib.suppress(OSError):
            if leftover.stat().st_mtime < cutoff:
                if leftover.is_dir():
                    shutil.rmtree(leftover, ignore_errors=True)
                else:
                    leftover.unlink()
    return doomed


@contextlib.contextmanager
def publish_lock(models_dir: str | Path) -> Iterator[None]:
    """Exclusive lock for a read-modify-publish job, so concurrent jobs never publish over each other."""
    Path(models_dir).mkdir(parents=True, exist_ok=True)
    fd = os.open(Path(models_dir) / LOCK_FILE, os.O_RDWR | os.O_CREAT, 0o644)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)
        yield
    finally:
        fcntl.flock(fd, fcntl.LOCK_UN)
        os.close(fd)


_dumps = json.JSONEncoder(ensure_ascii=False).encode


def _write_json(path: Path, data: Any, *, durable: bool = False) -> None:
    with open(path, "w", encoding="utf-8") as fh:
        json.dump(data, fh, ensure_ascii=False, indent=1 if path.name == MANIFEST else None)
        if durable:
            fh.flush()
            os.fsync(fh.fileno())


def _file_record(path: Path) -> dict[str, Any]:
    return {"sha256": _sha256(path), "bytes": path.stat().st_size}


def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as fh:
        for block in iter(lambda: fh.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def _fsync_file(path: Path) -> None:
    with open(path, "rb") as fh:
        os.fsync(fh.fileno())


def _fsync_dir(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)
