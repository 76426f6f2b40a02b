# Relatedly: the HTTP service (gunicorn) with the sample model baked in; mount /models to serve yours.
FROM python:3.11-slim AS build
ENV PIP_DISABLE_PIP_VERSION_CHECK=1 PIP_NO_CACHE_DIR=1
WORKDIR /src
RUN python -m venv /venv
COPY pyproject.toml README.md ./
COPY recommender recommender
COPY training training
COPY service service
RUN /venv/bin/pip install .
COPY data/sample data/sample
RUN /venv/bin/relatedly train --corpus data/sample/articles.jsonl --models-dir /models

FROM python:3.11-slim
ENV PATH=/venv/bin:$PATH \
    PYTHONUNBUFFERED=1 \
    RELATEDLY_MODELS_DIR=/models \
    NUMBA_CACHE_DIR=/tmp/numba-cache \
    PORT=8000
RUN useradd --system --uid 10001 --home-dir /app relatedly
COPY --from=build /venv /venv
COPY --from=build --chown=relatedly /models /models
USER relatedly
WORKDIR /app
EXPOSE 8000
HEALTHCHECK --interval=15s --timeout=3s --start-period=20s --retries=3 \
    CMD python -c "import os,urllib.request; urllib.request.urlopen(f'http://127.0.0.1:{os.environ.get(\"PORT\",\"8000\")}/readyz', timeout=2)"
CMD ["relatedly", "serve"]
