# Relatedly: the HTTP service (`relatedly serve`) with the sample model baked in.
# All state lives on the /models volume: model versions, CURRENT, the SQLite database of pins, blocks and reader
# events (point RELATEDLY_DATABASE_URL at PostgreSQL to keep them there instead), and the spool of events
# waiting for an unreachable database.
#
# BASE is any Debian-based Python 3.11 image whose pip configuration reaches a package index; no index is
# named here. Where no registry can be reached, `make test-image` builds a stand-in from Debian's packages
# (docker/make-base-image). Builds with BuildKit or the classic builder alike.
ARG BASE=python:3.11-slim

FROM ${BASE} AS build
ENV PIP_DISABLE_PIP_VERSION_CHECK=1 PIP_NO_CACHE_DIR=1
RUN python3 -m venv /venv
WORKDIR /src
# The dependencies in a layer of their own, rebuilt only when pyproject.toml changes.
COPY pyproject.toml ./
RUN python3 -c 'import tomllib; print(*tomllib.load(open("pyproject.toml", "rb"))["project"]["dependencies"], sep="\n")' \
        > requirements.txt \
    && /venv/bin/pip install -r requirements.txt
# Every package pyproject.toml lists (.dockerignore leaves out tests, docs and local state).
COPY . .
RUN /venv/bin/pip install --no-deps .

FROM ${BASE}
# The user's group is root (gid 0), like the state it writes: a container run with another --user (whose group
# is 0 too, as on OpenShift) can still use the baked model, the database and the compiled kernels.
RUN useradd --system --uid 10001 --gid 0 --create-home --home-dir /home/relatedly relatedly \
    && install -d -o relatedly -g 0 -m 775 /models /var/cache/relatedly/numba
COPY --from=build /venv /venv
COPY --from=build /src/data/sample/articles.jsonl /usr/share/relatedly/sample/articles.jsonl
ENV PATH=/venv/bin:$PATH \
    PYTHONUNBUFFERED=1 \
    RELATEDLY_MODELS_DIR=/models \
    RELATEDLY_DATABASE_URL=sqlite:////models/relatedly.db \
    RELATEDLY_EVENTS_SPOOL_DIR=/models/events-spool \
    RELATEDLY_HOST=0.0.0.0 \
    PORT=8000 \
    NUMBA_CACHE_DIR=/var/cache/relatedly/numba
USER relatedly
WORKDIR /home/relatedly
# Train the sample here, in the final stage, so numba's compiled kernels are cached in the image beside the
# very files they were compiled from (a fresh container trains and answers without compiling on this CPU
# model; on another CPU it compiles once into the same, user-writable, directory).
RUN relatedly train --corpus /usr/share/relatedly/sample/articles.jsonl \
    && relatedly db upgrade \
    && relatedly related "$(python -c 'import json,sys; print(json.loads(sys.stdin.readline())["id"])' \
        < /usr/share/relatedly/sample/articles.jsonl)" > /dev/null \
    && chmod -R g=u /models /var/cache/relatedly/numba
VOLUME ["/models"]
EXPOSE 8000
HEALTHCHECK --interval=10s --timeout=3s --start-period=30s --retries=3 \
    CMD python -c "import os, urllib.request; urllib.request.urlopen(f'http://127.0.0.1:{os.environ[\"PORT\"]}/readyz', timeout=2)"
CMD ["relatedly", "serve"]
