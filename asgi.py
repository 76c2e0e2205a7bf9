"""The ASGI entry point: `hypercorn --config hypercorn.toml asgi:app`."""

import sys

from service import create_app
from service.config import ConfigError, load_config

try:
    app = create_app(load_config())
except ConfigError as exc:
    # One clear line instead of a traceback: the operator fixes the variable and restarts.
    sys.stderr.write(f"configuration error: {exc}\n")
    raise SystemExit(2) from None
