"""Ops endpoints: `/healthz` (the process answers), `/readyz` (a model can serve), `/metrics` (Prometheus)."""

from __future__ import annotations

import time

from flask import Blueprint, Response, current_app, jsonify
from flask.typing import ResponseReturnValue

from service.extensions import relatedly
from service.pipeline import metrics as m

bp = Blueprint("health", __name__)


@bp.get("/healthz")
def healthz() -> ResponseReturnValue:
    """Liveness: touches nothing external, so a Redis or disk problem never restarts the process."""
    return jsonify(status="ok")


@bp.get("/readyz")
def readyz() -> ResponseReturnValue:
    """Readiness: 200 with the model version, article count and cache state; 503 without a model."""
    parts = relatedly()
    loaded = parts.store.current()
    events = current_app.extensions["relatedly_events"][0].status()
    body = {
        "cache": parts.cache.status(),
        "events": events,
        "last_reload_error": parts.store.last_error,
        "overrides": {"revision": parts.overrides.current().revision, "error": parts.overrides.last_error},
        "learning": current_app.extensions["relatedly_learned"].state(),
    }
    if loaded is None:
        body["status"] = "unavailable"
        body["error"] = {"code": "model_unavailable", "message": parts.store.last_error or "no model loaded"}
        return jsonify(body), 503
    drift = loaded.manifest.get("drift", {})
    body.update(
        status="degraded" if body["cache"]["state"] != "ok" or parts.overrides.last_error
        or events["state"] != "ok" else "ready",
        model_version=loaded.version,
        n_articles=loaded.model.n_articles,
        top_k=loaded.model.top_k,
        retrain_recommended=bool(drift.get("retrain_recommended", False)),
        added_since_fit=int(drift.get("added_since_fit", 0)),
    )
    return jsonify(body), 200


@bp.get("/metrics")
def metrics() -> Response:
    """Request, cache and model metrics in the Prometheus text format."""
    loaded = relatedly().store.current()
    if loaded is not None:
        m.MODEL_AGE.set(max(0.0, time.time() - loaded.created_at))
    body, content_type = m.exposition()
    return Response(body, content_type=content_type)
