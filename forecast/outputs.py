"""Writing outputs atomically: a temporary file in the same folder, then ``os.replace``.

A reader (or a run interrupted half-way) therefore sees either the previous file or the new one,
never a half-written one.
"""

from __future__ import annotations

import json
import os
import tempfile
from collections.abc import Callable
from pathlib import Path

from forecast.errors import InputError

__all__ = ["atomic_write", "check_out_dir", "write_json"]


def check_out_dir(out: str | Path) -> Path:
    """Check, before any work, that ``out`` can become an output folder; create nothing.

    Permission bits do not tell everything (``/proc`` looks writable to root, a read-only mount
    or a full disk does not show in them), so the check makes and removes an empty folder in
    ``out``, or in its nearest existing parent.

    Raises
    ------
    InputError
        If ``out`` is a file, or neither it nor its nearest existing parent takes a new entry.
    """
    out = Path(out)
    if out.exists() and not out.is_dir():
        raise InputError(f"{out}: --out is a file, not a folder; choose a folder path")
    probe = out
    while not probe.exists():
        probe = probe.parent
    try:
        os.rmdir(tempfile.mkdtemp(prefix=".forecast-probe-", dir=probe))
    except OSError as exc:
        raise InputError(f"{out}: --out is not writable ({probe}: {exc.strerror}); choose "
                         "another path") from None
    return out


def atomic_write(path: str | Path, write: Callable[[str], None]) -> Path:
    """Call ``write(tmp_path)`` on a temporary file beside ``path``, then move it into place.

    The folder of ``path`` is created if needed. On any error the temporary file is removed and
    ``path`` is left as it was.

    Raises
    ------
    InputError
        If the folder cannot be made or takes no new file (one line, naming it).
    """
    path = Path(path)
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    except OSError as exc:
        raise InputError(f"{path.parent}: cannot write {path.name} there ({exc.strerror}); "
                         "choose another --out") from None
    os.close(fd)
    try:
        write(tmp)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    return path


def write_json(path: str | Path, obj: object) -> Path:
    """Write ``obj`` as indented, key-sorted JSON, atomically."""
    text = json.dumps(obj, indent=2, sort_keys=True, allow_nan=False) + "\n"
    return atomic_write(path, lambda tmp: Path(tmp).write_text(text, encoding="utf-8"))
