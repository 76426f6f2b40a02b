"""gunicorn settings for `relatedly serve` (loaded as `python:service.gunicorn_conf`).

Everything comes from the same environment variables as the app (see service/config.py).
"""

from service.config import Settings

_settings = Settings.from_env()  # invalid configuration stops gunicorn before any worker starts

# Where to listen: PORT is what most platforms set.
bind = f"{_settings.host}:{_settings.port}"

# Workers are processes: one per core is a good start for this CPU-light, memory-mapped workload.
workers = _settings.workers

# One thread per worker uses sync workers, the lowest-latency choice behind a proxy;
# RELATEDLY_THREADS > 1 switches to gthread for slow clients or keep-alive without a proxy.
threads = _settings.threads
worker_class = "gthread" if threads > 1 else "sync"

# No preload: each worker builds the app itself, loads the model before it accepts a request,
# and starts its own reload watcher thread (threads do not survive fork).
preload_app = False

# Drain in-flight requests on SIGTERM before exiting.
graceful_timeout = 20
timeout = 30
keepalive = 5

# Logs go to stdout/stderr for the platform to collect; access log in one line per request.
accesslog = "-"
errorlog = "-"
loglevel = _settings.log_level.lower()
