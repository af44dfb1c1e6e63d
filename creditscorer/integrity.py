"""sha256 checks of model artifacts, done before any file is deserialised."""

from __future__ import annotations

import hashlib
from pathlib import Path

from creditscorer.errors import ArtifactIntegrityError


def read_verified(folder: Path, filename: str, expected: dict[str, str]) -> bytes:
    """Return the bytes of ``folder/filename`` if they match the card's sha256, else raise.

    The bytes that were hashed are the bytes returned, so a file swapped between the
    check and the load cannot slip through.
    """
    if filename not in expected:
        raise ArtifactIntegrityError(f"{folder}: the card records no sha256 for {filename}")
    path = Path(folder) / filename
    try:
        data = path.read_bytes()
    except FileNotFoundError:
        raise ArtifactIntegrityError(f"{path}: artifact is missing") from None
    actual = hashlib.sha256(data).hexdigest()
    if actual != expected[filename]:
        raise ArtifactIntegrityError(
            f"{path}: sha256 {actual} differs from the card's {expected[filename]}; "
            "refusing to load a file that is not the one that was trained"
        )
    return data
