"""Errors that only the registry raises."""

from __future__ import annotations

from retrain.errors import RetrainError


class IntegrityError(RetrainError):
    """A stored file does not match what the registry recorded (digest, size or shape of a JSON file).

    Permanent: retrying reads the same damaged bytes. The fix is to register the model again or to serve
    another version.
    """
