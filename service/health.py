"""Probes for ops: `/healthz` (the process answers) and `/readyz` (a model is loaded and can serve)."""

from __future__ import annotations

from flask import Blueprint, jsonify
from flask.typing import ResponseReturnValue

from service.extensions import relatedly

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
    body = {
        "cache": parts.cache.status(),
        "last_reload_error": parts.store.last_error,
    }
    if loaded is None:
        body["status"] = "unavailable"
        body["error"] = {"code": "model_unavailable", "message": parts.store.last_error or "no model loaded"}
        return jsonify(body), 503
    body.update(
        status="degraded" if body["cache"]["state"] != "ok" else "ready",
        model_version=loaded.version,
        n_articles=loaded.model.n_articles,
        top_k=loaded.model.top_k,
    )
    return jsonify(body), 200
