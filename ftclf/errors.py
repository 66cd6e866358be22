"""The project's error classes.

Every public check raises a subclass of :class:`FtclfError` (itself a ``ValueError``) whose
message says what was expected, what was found and what to do about it.
"""

from __future__ import annotations


class FtclfError(ValueError):
    """Base class of every error ftclf raises on bad input."""


class ConfigError(FtclfError):
    """An option has a value outside its allowed set or range."""


class DataError(FtclfError):
    """A data file or data set cannot be used as given."""


class InputError(FtclfError):
    """A text passed for prediction cannot be used (empty, wrong shape)."""


class EncoderNotFoundError(FtclfError):
    """The requested encoder is neither a local directory nor available from the hub."""


class EncoderMismatchError(FtclfError):
    """A saved head is being loaded onto an encoder other than the one it was trained with."""


class ModelFormatError(FtclfError):
    """A directory is not a saved ftclf classifier, or its files are damaged."""


class TrainingCancelled(FtclfError):
    """A training run was cancelled before it had a head to keep."""
