"""robots.txt: rules through protego, and what each HTTP answer means."""

from __future__ import annotations

import pytest

from concur.crawl.robots import RobotsPolicy, policy_for_response, robots_url

UA = "concur/0.1"
ROBOTS = b"""
User-agent: *
Disallow: /private/
Allow: /private/public/
Disallow: /*.pdf$
Crawl-delay: 2

User-agent: concur
Disallow: /no-concur/
Allow: /no-concur/but-this
Crawl-delay: 0.5

Sitemap: http://example.com/sitemap.xml
"""


def allowed(policy: RobotsPolicy | None, path: str, ua: str = UA) -> bool:
    assert policy is not None
    return policy.allowed("http://example.com" + path, ua)


def test_specific_group_wins_for_our_agent() -> None:
    policy = policy_for_response(200, ROBOTS)
    assert not allowed(policy, "/no-concur/x")
    assert allowed(policy, "/no-concur/but-this/page")  # longer Allow wins
    assert allowed(policy, "/private/x")  # the * group does not apply to concur
    assert not allowed(policy, "/private/x", "OtherBot/1.0")
    assert allowed(policy, "/private/public/x", "OtherBot/1.0")
    assert not allowed(policy, "/doc.pdf", "OtherBot/1.0")
    assert allowed(policy, "/doc.pdf?x=1", "OtherBot/1.0")
    assert policy is not None
    assert policy.crawl_delay(UA) == 0.5
    assert policy.crawl_delay("OtherBot") == 2.0
    assert policy.sitemaps == ("http://example.com/sitemap.xml",)


def test_allow_beats_disallow_of_equal_length() -> None:
    policy = policy_for_response(200, b"User-agent: *\nDisallow: /page\nAllow: /page\n")
    assert allowed(policy, "/page")


def test_request_rate_counts_as_delay() -> None:
    policy = policy_for_response(200, b"User-agent: *\nRequest-rate: 1/4\n")
    assert policy is not None and policy.crawl_delay(UA) == 4.0
    assert allowed(policy, "/anything")


def test_no_disallow_means_everything() -> None:
    policy = policy_for_response(200, b"User-agent: *\nAllow: /\n")
    assert allowed(policy, "/x")
    assert policy is not None and policy.crawl_delay(UA) is None


@pytest.mark.parametrize("status", [400, 401, 403, 404, 410])
def test_4xx_allows_everything(status: int) -> None:
    policy = policy_for_response(status, b"User-agent: *\nDisallow: /\n")
    assert allowed(policy, "/anything")


@pytest.mark.parametrize("status", [429, 500, 502, 503, 504])
def test_5xx_and_429_are_unreachable(status: int) -> None:
    assert policy_for_response(status, b"") is None


def test_no_answer_is_unreachable() -> None:
    assert policy_for_response(None, None) is None
    assert policy_for_response(200, b"", reachable=False) is None


def test_unfollowed_redirect_allows_everything() -> None:
    assert allowed(policy_for_response(301, b""), "/x")


def test_binary_body_has_no_rules() -> None:
    policy = policy_for_response(200, b"\x89PNG\r\n\x1a\n\x00\x00Disallow: /")
    assert allowed(policy, "/x")


def test_html_body_and_bom() -> None:
    assert allowed(policy_for_response(200, b"<html><body>Not found</body></html>"), "/x")
    bom = b"\xef\xbb\xbfUser-agent: *\nDisallow: /x\n"
    assert not allowed(policy_for_response(200, bom), "/x")


def test_disallow_all_and_url() -> None:
    policy = RobotsPolicy.disallow_all("robots.txt unreachable")
    assert not policy.allowed("http://example.com/", UA)
    assert policy.reason == "robots.txt unreachable"
    assert robots_url("http://example.com:8080") == "http://example.com:8080/robots.txt"
