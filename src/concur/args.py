"""Argument types shared by every command line: numbers, durations, headers, patterns,
URL lists, and the parser whose usage errors are one line.

The ``concur`` commands use them, and so does each step of the learner's path when it is
run on its own (``python -m concur.path.step3_callbacks``): that is why they live here,
below both, and not in :mod:`concur.commands`.

Each ``type=`` function here turns one command-line string into a value or raises
``argparse.ArgumentTypeError``, which argparse reports as a one-line usage error naming
the flag.  Checking a value where it is parsed keeps the commands free of validation
code, and the same flag means the same thing in every command.

Durations carry their unit or take the flag's documented one::

    >>> duration("ms")("1.5s"), duration("ms")("100"), duration("s")("100ms")
    (1500.0, 100.0, 0.1)
"""

from __future__ import annotations

import argparse
import importlib.util
import math
import re
import sys
from collections.abc import Callable, Iterable, Sequence
from pathlib import Path
from typing import NoReturn

__all__ = [
    "Help",
    "Parser",
    "UsageError",
    "duration",
    "fail",
    "header",
    "lacking",
    "latency_spec",
    "non_negative_int",
    "output_path",
    "positive_int",
    "read_urls",
    "regex",
    "server_delay",
]


class UsageError(Exception):
    """Flags that do not go together, or a value that does not fit: the message is one line."""


def fail(parser: argparse.ArgumentParser, message: str) -> NoReturn:
    """Exit 2 with ``PROG: error: MESSAGE`` on one line (``parser.error`` prints usage first)."""
    parser.exit(2, f"{parser.prog}: error: {message}\n")


def _integer(low: int) -> Callable[[str], int]:
    def parse(text: str) -> int:
        try:
            value = int(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"{text!r} is not a whole number") from None
        if value < low:
            raise argparse.ArgumentTypeError(f"{text} must be at least {low}")
        return value

    return parse


positive_int = _integer(1)
non_negative_int = _integer(0)


def seed(text: str) -> int:
    """A seed for the mock server's draws: a whole number that fits its 64-bit hash."""
    from mockserver.config import SEED_RANGE

    value = _integer(SEED_RANGE[0])(text)
    if value > SEED_RANGE[1]:
        raise argparse.ArgumentTypeError(f"{text} is not a 64-bit integer")
    return value


# seconds per unit; "m" is minutes (a duration never needs metres)
_UNITS = {"us": 1e-6, "µs": 1e-6, "ms": 1e-3, "s": 1.0, "m": 60.0, "min": 60.0, "h": 3600.0}
_DURATION = re.compile(r"\s*([-+]?[0-9]*\.?[0-9]+(?:[eE][-+]?[0-9]+)?)\s*([a-zµ]*)\s*")


def parse_duration(text: str, unit: str) -> float:
    """``text`` ("100ms", "1.5s", "2m", or a bare number in ``unit``) in ``unit``s.

    Raises ``ValueError`` (one line) for anything else, negative numbers included.
    """
    match = _DURATION.fullmatch(text)
    if match is None:
        raise ValueError(f"{text!r} is not a duration (e.g. 100ms, 1.5s, 2m)")
    number, given = match.groups()
    if given and given not in _UNITS:
        raise ValueError(f"{text!r}: unknown unit {given!r} (use ms, s, m or h)")
    value = float(number) * _UNITS[given or unit] / _UNITS[unit]
    if not math.isfinite(value):
        raise ValueError(f"{text!r} is not a finite duration")
    if value < 0:
        raise ValueError(f"{text!r}: a duration cannot be negative")
    return value


def duration(unit: str, *, positive: bool = False) -> Callable[[str], float]:
    """An argparse type: a duration in ``unit`` ("ms" or "s"); bare numbers are in ``unit``."""

    def parse(text: str) -> float:
        try:
            value = parse_duration(text, unit)
        except ValueError as exc:
            raise argparse.ArgumentTypeError(str(exc)) from None
        if positive and value <= 0:
            raise argparse.ArgumentTypeError(f"{text} must be longer than 0")
        return value

    parse.__name__ = "duration"
    return parse


def server_delay(text: str) -> float:
    """An argparse type: the mock server's delay, in ms unless a unit follows, at most its
    cap (above it the server answers every request with 400: a run of nothing but
    failures, and an efficiency that means nothing)."""
    from mockserver.config import ServerConfig

    value = duration("ms")(text)
    cap = ServerConfig().max_delay_ms
    if value > cap:
        raise argparse.ArgumentTypeError(
            f"{text!r}: at most {cap:g} ms ({cap / 60e3:g} min), the mock server's cap"
        )
    return value


_SIZES = {"": 1, "b": 1, "k": 1024, "kb": 1000, "kib": 1024, "m": 1024**2, "mb": 1000**2,
          "mib": 1024**2, "g": 1024**3, "gb": 1000**3, "gib": 1024**3}  # fmt: skip
_SIZE = re.compile(r"\s*([0-9]*\.?[0-9]+)\s*([a-zA-Z]*)\s*")


def size(text: str) -> int:
    """An argparse type: a number of bytes, with a unit if wanted (``1G``, ``500MB``, ``64k``).

    K, M and G (and KiB, MiB, GiB) are powers of 1024, as wget's sizes are; KB, MB and
    GB powers of 1000.
    """
    match = _SIZE.fullmatch(text)
    unit = match.group(2).lower() if match else ""
    if match is None or unit not in _SIZES:
        raise argparse.ArgumentTypeError(f"{text!r} is not a size (e.g. 1G, 500MB, 65536)")
    return int(float(match.group(1)) * _SIZES[unit])


def output_path(text: str) -> str:
    """An argparse type: a file to write; an empty one (``--trace ""``) is refused, not
    taken as "no file"."""
    if not text:
        raise argparse.ArgumentTypeError("an empty path: give a file name")
    return text


def header(text: str) -> tuple[str, str]:
    """An argparse type: ``'NAME: VALUE'`` as a (name, value) pair."""
    name, sep, value = text.partition(":")
    if not sep or not name.strip():
        raise argparse.ArgumentTypeError(f"{text!r} should be 'NAME: VALUE'")
    return name.strip(), value.strip()


def pem_file(text: str) -> str:
    """An argparse type: a readable file of PEM certificates (``--ca-file``), checked now."""
    import ssl

    try:
        ssl.create_default_context(cafile=text)
    except FileNotFoundError:
        raise argparse.ArgumentTypeError(f"{text}: no such file") from None
    except (OSError, ssl.SSLError) as exc:
        raise argparse.ArgumentTypeError(
            f"{text}: not a PEM file of certificates ({exc})"
        ) from None
    return str(Path(text).resolve())


def regex(text: str) -> str:
    """An argparse type: a regular expression that compiles (kept as text)."""
    try:
        re.compile(text)
    except re.error as exc:
        raise argparse.ArgumentTypeError(f"bad pattern {text!r}: {exc}") from None
    return text


def latency_spec(text: str) -> str:
    """An argparse type: a mock-server latency spec such as ``lognormal:50,1000`` (checked)."""
    from mockserver.latency import SpecError, parse

    try:
        parse(text)
    except SpecError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None
    return text


def read_urls(urls: Sequence[str], source: str | None) -> list[str]:
    """``urls``, then those of the file ``source`` (``-``: stdin), one a line.

    Blank lines and lines starting with ``#`` are skipped.  The file is UTF-8, and a
    byte-order mark at its start (Windows editors write one) is not part of its first
    URL.  A file that cannot be read, or is not UTF-8 text, is a :class:`UsageError`.
    """
    out = list(urls)
    if source is None:
        return out
    name = "stdin" if source == "-" else source
    try:
        if source == "-":
            text = sys.stdin.read()
        else:
            data = Path(source).read_bytes()
            try:
                text = data.decode("utf-8-sig")
            except UnicodeDecodeError as exc:
                line = data.count(b"\n", 0, exc.start) + 1
                raise UsageError(f"cannot read {name}: not UTF-8 text (line {line})") from None
    except OSError as exc:
        raise UsageError(f"cannot read {name}: {exc.strerror}") from None
    except UnicodeDecodeError:
        raise UsageError(f"cannot read {name}: not UTF-8 text") from None
    lines = [line.strip() for line in text.removeprefix("\ufeff").splitlines()]
    return out + [line for line in lines if line and not line.startswith("#")]


def lacking(modules: Iterable[str]) -> list[str]:
    """Which of ``modules`` cannot be imported (looked up, not imported: it costs nothing)."""
    out = []
    for name in modules:
        try:
            found = importlib.util.find_spec(name) is not None
        except (ImportError, ValueError):  # a parent package missing, or a module set to None
            found = False
        if not found:
            out.append(name)
    return out


class Parser(argparse.ArgumentParser):
    """argparse with usage errors on one line: what went wrong and where help is.

    argparse's own ``error`` prints the whole usage block first, a dozen lines for
    ``concur crawl``, in which the one line that matters is easy to miss.
    """

    def error(self, message: str) -> NoReturn:
        self.exit(2, f"{self.prog}: error: {message} (see {self.prog} --help)\n")


class Help(argparse.RawDescriptionHelpFormatter):
    """Descriptions as written, and every option's default in its help.

    A help text that names its default already (``(default: ...)``) is left alone;
    flags whose default is None or False (not given) show none.
    """

    def _get_help_string(self, action: argparse.Action) -> str | None:
        text = action.help or ""
        default = action.default
        if (
            "default" in text
            or not action.option_strings
            or default is None
            or default is False
            or default == []
            or default is argparse.SUPPRESS
        ):
            return text
        return f"{text} (default: %(default)s)".lstrip()
