"""Publishing an update: apply changes to the current version and publish the result atomically.

The one path by which the CLI (`relatedly update`/`remove`), the admin API and the sync job change a
published model; the pure part (what changes in the neighbour lists) is `recommender.changes`.

A removal is a takedown: its id is recorded in the manifest and later updates refuse to bring it
back; only a full `relatedly train` starts a new lineage. A withdrawal (a post its CMS unpublished,
seen by `relatedly sync`) leaves every list the same way but is not recorded: the post may come back.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from recommender import artifacts
from recommender.changes import ChangeSummary, apply_changes, drift_after
from recommender.corpus import Article
from recommender.errors import ArtifactError


@dataclass(frozen=True)
class UpdateResult:
    version: str
    previous: str
    summary: ChangeSummary
    drift: dict[str, Any]
    n_articles: int


def update_published(
    models_dir: str | Path, upserts: Sequence[Article] = (), removals: Sequence[str] = (), *, keep_versions: int = 5,
    withdrawals: Sequence[str] = (),
) -> UpdateResult:
    """Apply changes to the current model and publish the result as a new version, atomically.

    `removals` are takedowns (recorded: never brought back by an update); `withdrawals` leave the model
    unrecorded, and ids of them the model does not hold are ignored (already not served).
    Serialised with a lock file, so a CLI run and an admin request never publish over each other.
    """
    with artifacts.publish_lock(models_dir):
        previous = artifacts.read_current(models_dir)
        if previous is None:
            raise ArtifactError(f"no model published in {models_dir}: run 'relatedly train' first")
        model, manifest = artifacts.load_version(models_dir, previous)
        takedowns = frozenset(manifest.get("takedowns", []))
        withdrawn = [w for w in dict.fromkeys(withdrawals) if w in model.catalog_ and w not in removals]
        updated, summary = apply_changes(model, upserts, [*removals, *withdrawn], takedowns=takedowns)
        drift = drift_after(manifest.get("drift", {"fit_articles": manifest["n_articles"]}), summary)
        info = {
            "corpus": manifest.get("corpus", {}),
            "lineage": {"kind": "update", "base_version": previous,
                        "fit_version": manifest.get("lineage", {}).get("fit_version", previous)},
            "changes": {"added": len(summary.added), "replaced": len(summary.replaced),
                        "removed": summary.removed, "withdrawn": withdrawn, "refused": summary.refused,
                        "recomputed_lists": summary.recomputed_lists},
            "takedowns": sorted(takedowns | set(removals)),
            "drift": drift,
        }
        version = artifacts.save_version(updated, models_dir, info=info)
        artifacts.publish(models_dir, version)
        artifacts.prune(models_dir, keep_versions)
    return UpdateResult(version, previous, summary, drift, updated.n_articles)
