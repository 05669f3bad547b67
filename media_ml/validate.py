"""Checks at the edges: every argument, config value and input file is bounded before use.

Each check returns the value (parsed and normalised) or raises ``UsageError`` naming the
argument, the value and the limit, so no traceback and no unbounded allocation reaches a user::

    >>> bounded_int("5", "-k", low=1, high=1000)
    5
    >>> bounded_float("nan", "--threshold", low=0, high=1)
    Traceback (most recent call last):
    ...
    media_ml.errors.UsageError: --threshold must be a finite number in [0, 1], got 'nan'

``arg_type`` turns a check into an argparse ``type=`` so the parser refuses a bad flag with its
usage line (exit 2) before any work starts.
"""

from __future__ import annotations

import argparse
import math
import re
import stat
import warnings
from collections.abc import Callable
from pathlib import Path
from typing import Any, TypeVar

from media_ml.errors import UsageError

T = TypeVar("T")

INT64_MAX = 2**63 - 1  # SQLite integers (row ids) are signed 64-bit
MAX_NAME_CHARS = 64
MAX_NOTE_CHARS = 10_000
MAX_QUERY_CHARS = 2_000
MAX_PATH_CHARS = 4_096  # PATH_MAX on Linux
MAX_IMAGE_BYTES = 50 * 2**20
MAX_IMAGE_PIXELS = 50_000_000
_SAFE_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{0,63}")  # 64 = MAX_NAME_CHARS


def show(value: object, limit: int = 60) -> str:
    """``repr(value)``, shortened so a megabyte argument does not become a megabyte message."""
    text = repr(value)
    return text if len(text) <= limit else f"{text[:limit - 5]}…{text[-4:]}"


def _fail(name: str, what: str, value: object) -> UsageError:
    return UsageError(f"{name} must be {what}, got {show(value)}")


def _num(x: float) -> str:
    """A bound as people write it: 1048576 rather than 1.04858e+06, 0.5 rather than 0.500000."""
    return str(int(x)) if float(x).is_integer() and abs(x) < 1e16 else repr(float(x))


def _interval(low: float, high: float, low_open: bool, high_open: bool) -> str:
    return f"{'(' if low_open else '['}{_num(low)}, {_num(high)}{')' if high_open else ']'}"


def bounded_float(value: object, name: str, *, low: float, high: float,
                  low_open: bool = False, high_open: bool = False) -> float:
    """A finite float in the interval ``low..high`` (either end open on request)."""
    what = f"a finite number in {_interval(low, high, low_open, high_open)}"
    if isinstance(value, bool):
        raise _fail(name, what, value)
    try:
        x = float(value)  # type: ignore[arg-type]
    except (TypeError, ValueError, OverflowError) as e:
        raise _fail(name, what, value) from e
    if not math.isfinite(x) or x < low or x > high or (low_open and x == low) or (
            high_open and x == high):
        raise _fail(name, what, value)
    return x


def bounded_int(value: object, name: str, *, low: int, high: int) -> int:
    """An integer in ``low..high`` (inclusive); floats and booleans are refused."""
    what = f"an integer from {low} to {high}"
    if isinstance(value, bool) or isinstance(value, float):
        raise _fail(name, what, value)
    if isinstance(value, str):
        if len(value) > 40 or not re.fullmatch(r"\s*[+-]?[0-9]+\s*", value):
            raise _fail(name, what, value)
        n = int(value)
    elif isinstance(value, int):
        n = value
    else:
        raise _fail(name, what, value)
    if not low <= n <= high:
        raise _fail(name, what, value)
    return n


def record_id(value: object, name: str) -> int:
    """A catalog id: a positive integer that fits SQLite's signed 64 bits."""
    return bounded_int(value, name, low=1, high=INT64_MAX)


def safe_name(value: object, name: str) -> str:
    """A name that may become (part of) a file name: ``[A-Za-z0-9][A-Za-z0-9._-]{0,63}``,
    no ``..``, so it can neither leave a folder nor hide as a dot file."""
    what = (f"a name of 1 to {MAX_NAME_CHARS} letters, digits, '.', '_' or '-' starting with "
            "a letter or digit, without '..'")
    if not isinstance(value, str) or not _SAFE_NAME.fullmatch(value) or ".." in value:
        raise _fail(name, what, value)
    return value


def bounded_text(value: object, name: str, *, max_chars: int, allow_empty: bool = False) -> str:
    """A string of at most ``max_chars`` characters without NUL; non-blank unless allowed."""
    if not isinstance(value, str):
        raise _fail(name, "text", value)
    if not allow_empty and not value.strip():
        raise _fail(name, "non-empty text", value)
    if len(value) > max_chars:
        raise UsageError(f"{name} must be at most {max_chars} characters, got {len(value)}")
    if "\0" in value:
        raise _fail(name, "text without NUL characters", value)
    return value


def path_text(value: object, name: str) -> str:
    """A path as given: non-empty, no NUL, at most ``MAX_PATH_CHARS`` characters."""
    return bounded_text(value, name, max_chars=MAX_PATH_CHARS)


def regular_file(value: object, name: str, *, max_bytes: int, what: str = "file") -> Path:
    """An existing regular file of at most ``max_bytes`` bytes (its path is bounded text, so
    messages may quote it whole)."""
    p = Path(path_text(value, name))
    try:
        st = p.stat()
    except FileNotFoundError as e:
        raise UsageError(f"{name} {p}: no such {what}") from e
    except OSError as e:
        raise UsageError(f"{name} {p}: cannot read it: {e.strerror or e}") from e
    if not stat.S_ISREG(st.st_mode):
        raise UsageError(f"{name} {p}: not a regular file")
    if st.st_size > max_bytes:
        raise UsageError(f"{name} {p}: {st.st_size} bytes, more than the limit of {max_bytes} "
                         "bytes")
    return p


def image_file(value: object, name: str, *, max_bytes: int = MAX_IMAGE_BYTES,
               max_pixels: int = MAX_IMAGE_PIXELS) -> Path:
    """An image file whose size on disk and pixel count (read from the header, nothing is
    decoded) are bounded, so a decompression bomb is refused before any decoder sees it."""
    p = regular_file(value, name, max_bytes=max_bytes, what="image file")
    from PIL import Image

    try:
        # Image.open reads the header only. Pillow's own guard warns above MAX_IMAGE_PIXELS
        # and raises above twice that; ours (below) is the limit that counts.
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", Image.DecompressionBombWarning)
            with Image.open(p) as im:
                w, h = im.size
    except Image.DecompressionBombError as e:
        raise UsageError(f"{name} {p}: the image declares more pixels than the limit of "
                         f"{max_pixels} pixels ({e})") from e
    except (OSError, ValueError, SyntaxError) as e:
        # PIL raises SyntaxError for some malformed headers, UnidentifiedImageError (an
        # OSError) for non-images.
        raise UsageError(f"{name} {p}: not a readable image ({e})") from e
    if w <= 0 or h <= 0 or w * h > max_pixels:
        raise UsageError(f"{name} {p}: the image declares {w}x{h} = {w * h} pixels, more "
                         f"than the limit of {max_pixels} pixels")
    return p


def arg_type(check: Callable[..., T], name: str, **limits: Any) -> Callable[[str], T]:
    """An argparse ``type=``: runs ``check(text, name, **limits)``; a ``UsageError`` becomes
    the parser's own error (usage line, exit 2).

    >>> p = argparse.ArgumentParser()
    >>> _ = p.add_argument("-k", type=arg_type(bounded_int, "-k", low=1, high=1000))
    >>> p.parse_args(["-k", "7"]).k
    7
    """

    def convert(text: str) -> T:
        try:
            return check(text, name, **limits)
        except UsageError as e:
            raise argparse.ArgumentTypeError(str(e)) from e

    convert.__name__ = getattr(check, "__name__", "value")  # argparse names the type by this
    return convert
