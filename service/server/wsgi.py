"""The app the server loads in every worker, configured from the environment.

`app` is the Flask WSGI app; `rsgi_app` wraps it for granian's RSGI interface (service/server/rsgi.py),
which `relatedly serve` runs.
"""

from threadpoolctl import threadpool_limits

from service import create_app
from service.config import Settings
from service.pipeline import metrics
from service.server.rsgi import BufferedWsgi

# One BLAS thread per worker: the workers already use every core, extra threads only contend.
threadpool_limits(1)

settings = Settings.from_env()
app = create_app(settings)
metrics.retire_at_exit()
rsgi_app = BufferedWsgi(app, max_body_bytes=settings.max_body_bytes,
                        body_timeout_seconds=settings.body_timeout_seconds, threads=settings.threads)
