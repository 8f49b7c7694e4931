"""Files of documents: opened here, in the layer that does I/O, for the facade's export
and import (tenancy.handle.transfer), which then only reads and writes bytes."""

from __future__ import annotations

import os
from typing import IO, Any

from tenancy.errors import InvalidValue

__all__ = ["is_path", "open_document", "path_name"]


def is_path(value: object) -> bool:
    """A str or an os.PathLike (``pathlib.Path``): a file to open, not a file object."""
    return isinstance(value, str | os.PathLike)


def path_name(value: object) -> str:
    """The name of a path (a str or an os.PathLike), or "" for anything else."""
    if isinstance(value, str | os.PathLike):
        name = os.fspath(value)
        return name if isinstance(name, str) else ""
    return ""


def open_document(path: Any, mode: str) -> IO[bytes]:
    """The file at ``path`` opened in binary ``mode`` ("rb" or "wb"); InvalidValue naming
    ``path_or_fileobj`` when it cannot be (a missing file is never created by a read), or
    when the name is blank or holds control characters (a newline, a NUL, an escape),
    which no one means to create."""
    name = str(path)
    if not name.strip() or not name.isprintable():
        raise InvalidValue(
            name, "a path is not blank and has no control characters", field="path_or_fileobj"
        )
    try:
        return open(path, mode)
    except (OSError, ValueError, TypeError) as error:
        reason = getattr(error, "strerror", None) or str(error)
        verb = "read" if mode.startswith("r") else "written"
        raise InvalidValue(
            str(path), f"the file cannot be {verb}: {reason}", field="path_or_fileobj"
        ) from None
