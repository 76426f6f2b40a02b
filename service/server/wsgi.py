"""WSGI entry point the server loads in every worker: `service.server.wsgi:app`, configured from the environment."""

from threadpoolctl import threadpool_limits

from service import create_app
from service.pipeline import metrics

# One BLAS thread per worker: the workers already use every core, extra threads only contend.
threadpool_limits(1)

app = create_app()
metrics.retire_at_exit()
