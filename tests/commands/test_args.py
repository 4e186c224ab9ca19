"""The shared argument types of the commands: durations with units, headers, URL files."""

from __future__ import annotations

import argparse
import io
from pathlib import Path

import pytest

from concur.args import (
    UsageError,
    duration,
    header,
    lacking,
    parse_duration,
    read_urls,
    regex,
)


@pytest.mark.parametrize(
    ("text", "unit", "value"),
    [
        ("100", "ms", 100.0),  # a bare number is in the flag's unit
        ("100ms", "ms", 100.0),
        ("1.5s", "ms", 1500.0),
        ("100ms", "s", 0.1),
        ("2m", "s", 120.0),
        ("2min", "s", 120.0),
        ("1h", "s", 3600.0),
        ("250us", "ms", 0.25),
        ("0.5", "s", 0.5),
        (".5s", "s", 0.5),
        (" 3 s ", "s", 3.0),
        ("1e3", "ms", 1000.0),
        ("0", "ms", 0.0),
    ],
)
def test_durations_take_a_unit_or_the_flags(text: str, unit: str, value: float) -> None:
    assert parse_duration(text, unit) == pytest.approx(value)


@pytest.mark.parametrize(
    "text", ["", "x", "-1", "-5ms", "1 ms s", "inf", "nan", "5 parsecs", "1e999"]
)
def test_bad_durations_are_refused_in_one_line(text: str) -> None:
    with pytest.raises(ValueError) as refused:
        parse_duration(text, "s")
    assert "\n" not in str(refused.value)


def test_duration_types_check_the_sign() -> None:
    timeout = duration("s", positive=True)
    assert timeout("500ms") == pytest.approx(0.5)
    with pytest.raises(argparse.ArgumentTypeError):
        timeout("0")
    assert duration("ms")("0") == 0.0


def test_headers_and_patterns() -> None:
    assert header("X-Test:  a: b ") == ("X-Test", "a: b")
    for bad in ("no colon", ": empty name"):
        with pytest.raises(argparse.ArgumentTypeError):
            header(bad)
    assert regex(r"/p/\d+") == r"/p/\d+"
    with pytest.raises(argparse.ArgumentTypeError):
        regex("(")


def test_read_urls_skips_blanks_and_comments(tmp_path: Path) -> None:
    listing = tmp_path / "urls.txt"
    listing.write_text("# a comment\nhttp://a/\n\n  http://b/  \n", encoding="utf-8")
    assert read_urls(["http://first/"], str(listing)) == ["http://first/", "http://a/", "http://b/"]
    assert read_urls(["http://x/"], None) == ["http://x/"]
    with pytest.raises(UsageError, match="cannot read"):
        read_urls([], str(tmp_path / "missing.txt"))


def test_read_urls_drops_a_byte_order_mark_and_refuses_what_is_not_utf8(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    listing = tmp_path / "urls.txt"
    listing.write_bytes(b"\xef\xbb\xbfhttp://a/\r\nhttp://b/\r\n")  # as Windows editors save
    assert read_urls([], str(listing)) == ["http://a/", "http://b/"]
    monkeypatch.setattr("sys.stdin", io.StringIO("\ufeffhttp://c/\n"))  # decoded already
    assert read_urls([], "-") == ["http://c/"]
    listing.write_bytes(b"http://a/\nhttp://a/caf\xe9\n")  # Latin-1
    with pytest.raises(UsageError, match=r"cannot read .*urls.txt: not UTF-8 text \(line 2\)"):
        read_urls([], str(listing))


def test_lacking_looks_modules_up_without_importing_them() -> None:
    assert lacking(["json", "concur_no_such_module", "concur_no_such.sub"]) == [
        "concur_no_such_module",
        "concur_no_such.sub",
    ]
