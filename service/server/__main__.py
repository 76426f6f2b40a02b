"""`python -m service.server`: run the service under granian (what `relatedly serve` executes, after setting
`PROMETHEUS_MULTIPROC_DIR`, which must be set before the `service` package is imported)."""

import sys

from service.config import ConfigError, Settings
from service.server.config import build_server, reset_metric_files


def main() -> int:
    try:
        settings = Settings.from_env()
    except ConfigError as exc:
        print(f"relatedly serve: {exc}", file=sys.stderr)
        return 2
    reset_metric_files()
    build_server(settings).serve()
    return 0


if __name__ == "__main__":
    sys.exit(main())
