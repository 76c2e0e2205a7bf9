"""Adapters for the outside world (SMTP, outbound HTTP): typed, with their timeouts and limits
in one place. Services receive them as arguments; nothing here knows about the database."""
