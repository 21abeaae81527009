"""Everything that leaves the program: JSON text, files on disk, user text shown on a terminal.

Three rules, one place:

* **JSON is always valid.** Python's ``json`` would write ``Infinity``/``NaN`` (not JSON) or
  refuse them. :func:`to_json` writes every non-finite float as a string: ``"inf"``,
  ``"-inf"`` or ``"nan"``. (Metrics that are *undefined* are already ``null``; a string means
  the value was computed and is genuinely infinite or not a number, e.g. a theory bound
  ``lr < inf`` on a flat function.)
* **Files are written whole or not at all.** :func:`write_atomic` writes to a temporary file in
  the target's folder and renames it over the target, so a full disk, a Ctrl-C or a crash never
  leaves a half-written file under the real name.
* **User text is shown, never interpreted.** :func:`printable` replaces control characters
  (terminal escape sequences, newlines, bells) by ``\\xNN`` escapes, so text a user typed cannot
  set a window title or clear the screen when it is echoed back.

Output errors are :class:`OutputError` (an OptiscopeError): a bad destination (a folder where a
file should go, a path under /proc, a read-only place) exits with status 2 like any other
mistake; a failing disk (full, I/O error) exits with status 1.
"""

from __future__ import annotations

import contextlib
import errno
import io
import json
import math
import os
import stat
import tempfile
import warnings
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import numpy as np

from optiscope.errors import OptiscopeError

#: errno values that mean "the disk failed", not "the user named a bad place" (exit 1, not 2).
DISK_ERRORS = frozenset({errno.ENOSPC, errno.EIO, errno.EDQUOT, errno.EFBIG})

#: Figure formats matplotlib writes by itself. PGF is left out: it runs an external TeX.
FIGURE_FORMATS = ("png", "pdf", "svg", "svgz", "eps", "ps", "jpg", "jpeg", "tif", "tiff", "webp")


class OutputError(OptiscopeError):
    """Output could not be written. ``exit_code`` is 1 for a disk failure, 2 otherwise."""

    def __init__(self, message: str, exit_code: int = 2) -> None:
        super().__init__(message)
        self.exit_code = exit_code


def output_error(what: str, path: Path | str, err: OSError) -> OutputError:
    """One line for an OSError while writing ``what`` to ``path``, with the right exit code."""
    reason = err.strerror or type(err).__name__
    code = 1 if err.errno in DISK_ERRORS else 2
    return OutputError(f"cannot write {what} {printable(str(path))}: {reason}", code)


# --- JSON -------------------------------------------------------------------------------------


def json_safe(value: Any) -> Any:
    """``value`` with every float finite or replaced by ``"inf"``, ``"-inf"`` or ``"nan"``.

    Walks dicts, lists and tuples; NumPy scalars and arrays become plain Python values.
    """
    if isinstance(value, Mapping):
        return {str(k): json_safe(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [json_safe(v) for v in value]
    if isinstance(value, np.ndarray):
        return json_safe(value.tolist())
    if isinstance(value, np.generic):
        value = value.item()
    if isinstance(value, float) and not math.isfinite(value):
        return "nan" if math.isnan(value) else ("inf" if value > 0 else "-inf")
    return value


def to_json(data: Any) -> str:
    """Strict JSON text of ``data`` (see :func:`json_safe`), indented, ending in a newline."""
    return json.dumps(json_safe(data), indent=2, allow_nan=False) + "\n"


# --- files ------------------------------------------------------------------------------------


def prepare_folder(folder: Path | str) -> Path:
    """Create ``folder`` (and its parents) if needed; OutputError if it cannot be a folder."""
    folder = Path(folder)
    try:
        folder.mkdir(parents=True, exist_ok=True)
    except FileExistsError:
        raise OutputError(
            f"cannot use {printable(str(folder))} as a folder: it is a file"
        ) from None
    except OSError as err:
        raise output_error("into folder", folder, err) from None
    return folder


def check_target(path: Path | str, what: str = "file") -> Path:
    """Refuse a destination that is a folder, an existing non-regular file (a device) or a
    name the system cannot take (too long, a file used as a folder on the way)."""
    path = Path(path)
    try:
        mode = os.stat(path).st_mode
    except FileNotFoundError:
        return path
    except OSError as err:
        raise output_error(what, path, err) from None
    if stat.S_ISDIR(mode):
        raise OutputError(f"cannot write {what} {printable(str(path))}: it is a folder")
    if not stat.S_ISREG(mode):
        raise OutputError(f"cannot write {what} {printable(str(path))}: it is not a regular file")
    return path


def write_atomic(path: Path | str, data: bytes | str, what: str = "file") -> Path:
    """Write ``data`` to ``path`` whole or not at all (temporary file + rename).

    The parent folder is created. On any failure the temporary file is removed, the previous
    content of ``path`` (if any) is left as it was, and an :class:`OutputError` is raised.
    """
    path = check_target(path, what)
    prepare_folder(path.parent)
    payload = data.encode("utf-8") if isinstance(data, str) else data
    tmp = None
    try:
        fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".part", dir=path.parent)
        # mkstemp makes the file private (0600); give it the mode a plain open() would
        os.fchmod(fd, 0o666 & ~_umask())
        with os.fdopen(fd, "wb") as handle:
            handle.write(payload)
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(tmp, path)
        tmp = None
    except OSError as err:
        raise output_error(what, path, err) from None
    finally:
        if tmp is not None:
            with contextlib.suppress(OSError):
                os.unlink(tmp)
    return path


def _umask() -> int:
    """The process's file-creation mask (read by setting it, then putting it back)."""
    mask = os.umask(0o022)
    os.umask(mask)
    return mask


def figure_path(path: Path | str) -> tuple[Path, str]:
    """The destination of a figure and its format, from the file's suffix.

    No suffix means PNG: ``.png`` is appended, but only to a name that is not already taken by
    something other than a regular file (``--plot /dev/null`` is refused rather than turned
    into a new file ``/dev/null.png``). A format that needs an external program is refused.
    """
    path = check_target(path, "figure")
    valid = ", ".join(f".{f}" for f in FIGURE_FORMATS)
    if not path.suffix:
        path = check_target(path.with_suffix(".png"), "figure")
    fmt = path.suffix[1:].lower()
    if fmt == "pgf":
        raise OutputError(
            f"cannot write figure {printable(str(path))}: .pgf needs a TeX installation "
            f"(xelatex); valid: {valid}"
        )
    if fmt not in FIGURE_FORMATS:
        raise OutputError(f"cannot save a figure as .{printable(fmt)}; valid: {valid}")
    return path, fmt


def render_figure(fig: Any, fmt: str, dpi: int) -> bytes:
    """The bytes of ``fig`` drawn in format ``fmt`` (nothing touches the disk)."""
    buffer = io.BytesIO()
    with np.errstate(all="ignore"), warnings.catch_warnings():
        warnings.simplefilter("ignore")  # layout advice on crowded figures is not the user's
        fig.savefig(buffer, dpi=dpi, format=fmt)
    return buffer.getvalue()


# --- text -------------------------------------------------------------------------------------


def printable(text: str) -> str:
    """``text`` with control characters (C0, DEL, C1) written as ``\\xNN`` escapes."""
    return "".join(
        ch if ch.isprintable() or ch == " " else ch.encode("unicode_escape").decode("ascii")
        for ch in text
    )
