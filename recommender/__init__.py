"""Relatedly's model: corpus → TF-IDF vectors → exact top-K neighbours → request-time ranking.

Pure code: no Flask, no Redis, no environment variables.
"""
