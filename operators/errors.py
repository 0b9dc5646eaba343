"""Errors an operator raises for a bad configuration (the CLI reports them with exit status 2)."""


class ConfigError(Exception):
    """The operator cannot be built as configured; the message says what to change."""
