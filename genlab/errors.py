"""Errors that genlab reports to users: one clear message, never a bare traceback."""


class GenlabError(Exception):
    """Base class: the CLI prints ``str(err)`` and exits with status 2."""


class DataError(GenlabError):
    """A dataset could not be found, read or validated."""


class ConfigError(GenlabError):
    """A configuration key or value is unknown, of the wrong type or out of range."""


class RunError(GenlabError):
    """A run folder is missing, incomplete or not a genlab run."""


class TrainingDiverged(GenlabError):
    """Training produced a non-finite loss or weights; the last good checkpoint is kept."""
