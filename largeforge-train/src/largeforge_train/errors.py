"""Errors of the train plugin (user mistakes: the CLI prints them as one line)."""

from largeforge.errors import LargeForgeError


class PreflightError(LargeForgeError):
    """The data, once rendered and tokenized, would train a broken model; nothing has run yet."""


class TrainingError(LargeForgeError):
    """Training could not start or continue (e.g. nothing to resume from)."""
