"""The ASGI entry point: `hypercorn --config hypercorn.toml asgi:app`."""

import sys

from service import create_app, protocol_errors
from service.config import ConfigError, load_config

# Before serving starts, in every worker: hypercorn's own refusals answer JSON too.
protocol_errors.install()

try:
    app = create_app(load_config())
except ConfigError as exc:
    # One clear line instead of a traceback: the operator fixes the variable and restarts.
    sys.stderr.write(f"configuration error: {exc}\n")
    raise SystemExit(2) from None
