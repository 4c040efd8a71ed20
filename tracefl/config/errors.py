"""The one error type of configuration mistakes."""


class ConfigError(ValueError):
    """A configuration value is not allowed; the message names the key and the allowed values."""
