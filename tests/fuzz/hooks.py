"""Schemathesis hooks for the fuzz run (loaded through schemathesis.toml's `hooks`).

The `username` format: what `service.schemas.users` accepts, which a JSON Schema pattern can
only approximate (printable means Unicode letters, marks, numbers, punctuation and symbols).
"""

from __future__ import annotations

import schemathesis
from hypothesis import strategies as st

from service.schemas.users import USERNAME_FORMAT, USERNAME_MAX

USERNAME_CHARACTERS = st.characters(
    categories=("L", "M", "N", "P", "S"), exclude_characters="/", codec="utf-8"
)

schemathesis.openapi.format(
    USERNAME_FORMAT, st.text(USERNAME_CHARACTERS, min_size=1, max_size=USERNAME_MAX)
)
