"""URL normalisation and joining: one spelling per page, and nothing that is not a page."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from concur.crawl.urls import (
    Joiner,
    host_key,
    hostname,
    is_private,
    join,
    normalize,
    private_jump,
)

SAME = [
    # scheme and host case, default ports, empty path
    ("HTTP://Example.COM", "http://example.com/"),
    ("http://example.com:80/", "http://example.com/"),
    ("https://example.com:443/a", "https://example.com/a"),
    ("https://example.com:80/a", "https://example.com:80/a"),
    ("http://example.com:8080", "http://example.com:8080/"),
    ("http://example.com./a", "http://example.com/a"),
    # fragments and empty queries
    ("http://example.com/a#top", "http://example.com/a"),
    ("http://example.com/a?#top", "http://example.com/a"),
    ("http://example.com/a?", "http://example.com/a"),
    ("http://example.com/a?x=1&&y=2&", "http://example.com/a?x=1&y=2"),
    # dot segments
    ("http://example.com/a/./b/../c", "http://example.com/a/c"),
    ("http://example.com/../../a", "http://example.com/a"),
    ("http://example.com/a/b/..", "http://example.com/a/"),
    ("http://example.com/a/b/.", "http://example.com/a/b/"),
    ("http://example.com/a//b", "http://example.com/a//b"),  # not a dot segment: kept
    ("http://example.com/.well-known/x", "http://example.com/.well-known/x"),
    # percent-encoding
    ("http://example.com/%7euser", "http://example.com/~user"),
    ("http://example.com/%61%62c", "http://example.com/abc"),
    ("http://example.com/a%2fb", "http://example.com/a%2Fb"),
    ("http://example.com/a%2Fb", "http://example.com/a%2Fb"),
    ("http://example.com/a/%2e%2E/b", "http://example.com/b"),  # escaped dots are dots
    ("http://example.com/100%", "http://example.com/100%25"),
    ("http://example.com/%zz", "http://example.com/%25zz"),
    ("http://example.com/a b", "http://example.com/a%20b"),
    ("http://example.com/caf\u00e9", "http://example.com/caf%C3%A9"),
    ("http://example.com/caf%c3%a9", "http://example.com/caf%C3%A9"),
    ("http://example.com/?q=a%20b", "http://example.com/?q=a%20b"),
    ("http://example.com/?q=\u00e9", "http://example.com/?q=%C3%A9"),
    ("http://example.com/a\\b", "http://example.com/a/b"),
    # query order: sorted by name, stable for repeated names
    ("http://example.com/?b=2&a=1", "http://example.com/?a=1&b=2"),
    ("http://example.com/?a=2&b=1&a=1", "http://example.com/?a=2&a=1&b=1"),
    ("http://example.com/?a=1&b=2", "http://example.com/?a=1&b=2"),
    # whitespace around, tabs and newlines inside (browsers drop them)
    ("  http://example.com/a\n", "http://example.com/a"),
    ("http://exa\tmple.com/a\nb", "http://example.com/ab"),
    # IDN and IPv6 hosts
    ("http://B\u00fccher.example/", "http://xn--bcher-kva.example/"),
    ("http://[::1]:8080/a", "http://[::1]:8080/a"),
    ("http://[::1]:80/a", "http://[::1]/a"),
    ("http://127.0.0.1:8000/x", "http://127.0.0.1:8000/x"),
    # user info is kept (it changes the request), the host is still normalised
    ("http://user:pw@Example.com/", "http://user:pw@example.com/"),
]


@pytest.mark.parametrize(("raw", "expected"), SAME)
def test_normalize(raw: str, expected: str) -> None:
    assert normalize(raw) == expected
    assert normalize(expected) == expected  # canonical forms are fixed points


def test_query_order_kept_when_asked() -> None:
    assert normalize("http://e.com/?b=2&a=1", sort_query=False) == "http://e.com/?b=2&a=1"
    assert normalize("http://e.com/?b=2&a=1&", sort_query=False) == "http://e.com/?b=2&a=1"


@pytest.mark.parametrize(
    "raw",
    [
        "",
        "   ",
        "example.com/a",
        "/relative/path",
        "ftp://example.com/file",
        "mailto:someone@example.com",
        "javascript:alert(1)",
        "data:text/html,hi",
        "http://",
        # "http:///path" was here: the WHATWG parser reads it as http://path/, as a
        # browser does (test_crawl_urls_equivalence.py lists every such difference)
        "http://exa mple.com/",
        "http://example.com:99999/",
        "http://example.com:0/",
        "http://example.com:port/",
        "http://[::1/",
        "http://ex<ample.com/",
        "http://./",
    ],
)
def test_normalize_rejects(raw: str) -> None:
    assert normalize(raw) is None


BASE = "http://example.com/dir/page.html?x=1"


@pytest.mark.parametrize(
    ("href", "expected"),
    [
        ("other.html", "http://example.com/dir/other.html"),
        ("./other.html", "http://example.com/dir/other.html"),
        ("../up.html", "http://example.com/up.html"),
        ("../../../../up.html", "http://example.com/up.html"),
        ("/root.html", "http://example.com/root.html"),
        ("sub/", "http://example.com/dir/sub/"),
        ("?y=2", "http://example.com/dir/page.html?y=2"),
        ("?b=2&a=1#frag", "http://example.com/dir/page.html?a=1&b=2"),
        ("other.html#frag", "http://example.com/dir/other.html"),
        ("//cdn.example.org/x", "http://cdn.example.org/x"),
        ("https://Other.example/A", "https://other.example/A"),
        ("HTTP://other.example", "http://other.example/"),
        ("  spaced.html  ", "http://example.com/dir/spaced.html"),
        ("a b.html", "http://example.com/dir/a%20b.html"),
        ("\\windows\\style", "http://example.com/windows/style"),
        (".", "http://example.com/dir/"),
        ("..", "http://example.com/"),
    ],
)
def test_join(href: str, expected: str) -> None:
    assert join(BASE, href) == expected


@pytest.mark.parametrize(
    "href",
    [
        None,
        "",
        "   ",
        "#",
        "#section",
        "javascript:void(0)",
        "JavaScript:alert(1)",
        "mailto:a@b.c",
        "tel:+123",
        "data:image/png;base64,AAAA",
        "ftp://example.com/",
        "http://[broken/",
        "http://example.com:70000/",
        "http://",
    ],
)
def test_join_rejects(href: str | None) -> None:
    assert join(BASE, href) is None


def test_joiner_matches_urljoin_path_for_unusual_bases() -> None:
    joiner = Joiner("http://example.com")  # no path at all
    assert joiner("a.html") == "http://example.com/a.html"
    assert Joiner("http://example.com/a/b")("c") == "http://example.com/a/c"
    assert Joiner("http://example.com/a/b/")("c") == "http://example.com/a/b/c"


def test_host_key_and_hostname() -> None:
    assert host_key("http://example.com/a/b?c") == "http://example.com"
    assert host_key("https://example.com:8443/") == "https://example.com:8443"
    assert host_key("http://u:p@example.com/") == "http://example.com"
    assert hostname("https://example.com:8443/") == "example.com"
    assert hostname("http://[::1]:8080/") == "[::1]"
    assert hostname("http://u:p@example.com/x") == "example.com"


_url_text = st.text(
    alphabet=st.sampled_from(list("abcAB019-._~!$&'()*+,;=:@/?#%[] \u00e9\u4e2d\\")), max_size=30
)


@settings(max_examples=400, deadline=None)
@given(
    scheme=st.sampled_from(["http", "HTTP", "https"]),
    host=st.sampled_from(["example.com", "EXAMPLE.com", "127.0.0.1", "a-b.example", "[::1]"]),
    port=st.sampled_from(["", ":80", ":443", ":8080"]),
    rest=_url_text,
)
def test_normalize_is_idempotent(scheme: str, host: str, port: str, rest: str) -> None:
    url = normalize(f"{scheme}://{host}{port}/{rest}")
    if url is not None:
        assert normalize(url) == url
        assert "#" not in url
        assert url.startswith(("http://", "https://"))


@settings(max_examples=300, deadline=None)
@given(href=_url_text)
def test_join_gives_canonical_urls(href: str) -> None:
    url = join(BASE, href)
    if url is not None:
        assert normalize(url) == url


@pytest.mark.parametrize(
    ("url", "private"),
    [
        ("http://127.0.0.1:8080/", True),
        ("http://169.254.169.254/latest", True),
        ("http://10.1.2.3/", True),
        ("http://192.168.0.1/", True),
        ("http://[::1]:80/", True),
        ("http://[fe80::1]/", True),
        ("http://localhost/", True),
        ("http://api.localhost/", True),
        ("http://0.0.0.0/", True),
        ("http://8.8.8.8/", False),
        ("https://example.org/", False),
        ("http://[2606:4700::1111]/", False),
        ("http://10.example.org/", False),  # a name, not an address
    ],
)
def test_private_addresses(url: str, private: bool) -> None:
    assert is_private(url) is private


def test_only_a_public_host_leading_to_a_private_one_is_refused() -> None:
    assert private_jump("https://example.org/", "http://127.0.0.1/admin") is not None
    assert private_jump("http://127.0.0.1:1/", "http://127.0.0.2:1/") is None
    assert private_jump("https://example.org/", "https://example.com/") is None
