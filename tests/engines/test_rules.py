"""The shared rules of every engine, without a network: URL checks and the record type."""

from __future__ import annotations

import dataclasses
import inspect
import pickle

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from concur.crawl.urls import _careful_check, check_url
from concur.records import ErrorKind, FetchRecord

# A URL as scheme, host, port and tail, each drawn from good and odd pieces (and a little
# free text), so that generated strings land on both sides of the fast path's regex.
_ODD = ["", " ", "\t", "\n", "\x00", "\u00a0", "\x1c", "é", "%20", "@", "://", "-", "."]
_URLS = st.tuples(
    st.sampled_from(["http://", "https://", "HTTP://", "ftp://", "http:/", "http:", *_ODD]),
    st.sampled_from(["example.org", "127.0.0.1", "[::1]", "a-b.c", "user:pw@a", *_ODD]),
    st.sampled_from([":0", ":80", ":0080", ":65535", ":65536", ":99999", ":", ":x", *_ODD]),
    st.lists(st.sampled_from(["/", "/path", "?q=1", "#f", "/a b", *_ODD]), max_size=3),
    st.text(max_size=3),
).map(lambda p: p[0] + p[1] + p[2] + "".join(p[3]) + p[4])


@settings(max_examples=3000, deadline=None)
@given(_URLS)
def test_fast_path_agrees_with_careful_check(url: str) -> None:
    """The one-regex fast path only ever says what the careful check would say."""
    assert check_url(url) == _careful_check(url)


@pytest.mark.parametrize(
    ("url", "why"),
    [
        ("http://127.0.0.1:8080/add?x=1", None),
        ("https://example.org", None),
        ("  http://example.org/  ", None),  # surrounding blanks are stripped, not an error
        ("http://a:65535/", None),
        ("http://a:65536/", "malformed URL: Port out of range 0-65535"),
        ("http://a/ b", "URL contains whitespace"),
        ("http://a/\tb", "URL contains whitespace"),
        ("ftp://example.org/", "unsupported scheme 'ftp'"),
        ("example.org", "missing scheme (http://)"),
        ("http://", "missing host"),
        ("http://a:0/", "port 0 is not a port"),
        ("", "empty URL"),
    ],
)
def test_check_url_says_what_is_wrong(url: str, why: str | None) -> None:
    assert check_url(url) == why


def test_fetch_record_init_matches_its_fields() -> None:
    """FetchRecord's hand-written ``__init__`` takes exactly its fields, defaults included."""
    params = list(inspect.signature(FetchRecord).parameters.values())
    fields = dataclasses.fields(FetchRecord)
    assert [p.name for p in params] == [f.name for f in fields]
    for p, f in zip(params, fields, strict=True):
        expected = inspect.Parameter.empty if f.default is dataclasses.MISSING else f.default
        assert p.default == expected, f.name


def test_fetch_record_is_frozen_data() -> None:
    record = FetchRecord(3, "http://a/", None, 0, ErrorKind.TIMEOUT, 2, 0.5, 1.5, "timed out")
    assert (record.index, record.url, record.error, record.attempts) == (
        3,
        "http://a/",
        ErrorKind.TIMEOUT,
        2,
    )
    assert record.final_url == "" and not record.ok and record.elapsed == 1.0
    with pytest.raises(dataclasses.FrozenInstanceError):
        record.url = "http://b/"  # type: ignore[misc]
    assert dataclasses.replace(record, attempts=3).attempts == 3
    assert pickle.loads(pickle.dumps(record)) == record
    assert FetchRecord.from_dict(record.to_dict()) == record
