"""The one error of the training job that a person can act on."""

from __future__ import annotations


class TrainingError(RuntimeError):
    """A failure with a reason a person can act on; becomes the `failed` event."""
