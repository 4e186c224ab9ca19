"""``concur crawl``'s flags mean one thing, and a flag that does not apply is an error.

Every refusal here happens before anything runs (no server, no engine): one line on
stderr that names the flag, exit status 2, nothing on stdout.  ``--help`` shows every
default and unit, in plain text.
"""

from __future__ import annotations

import argparse
import subprocess
import sys

import pytest

from concur.args import UsageError
from concur.cli import COMMANDS, Help, build_parser
from concur.commands import crawl_args


def concur(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "concur", *args],
        capture_output=True,
        text=True,
        timeout=60,
        stdin=subprocess.DEVNULL,
    )


def parse(*argv: str) -> crawl_args.CrawlArgs:
    """What ``concur crawl ARGV`` would run with (parsed in this process, nothing run)."""
    args = build_parser().parse_args(["crawl", *argv])
    return crawl_args.from_namespace(args)


REFUSED = [
    # -n and the server's flags belong to the experiment (and --site)
    (["http://127.0.0.1:1/", "-n", "5"], "-n applies only to the experiment"),
    (["http://127.0.0.1:1/", "--latency", "5"], "--latency applies only to"),
    (["http://127.0.0.1:1/", "--seed", "1"], "--seed applies only to"),
    (["--follow", "http://127.0.0.1:1/", "-n", "5"], "-n applies only to the experiment"),
    (["--site", "-n", "5"], "-n applies only to the experiment"),
    # --delay is the mock server's: never politeness
    (["--follow", "http://127.0.0.1:1/", "--delay", "100"], "politeness is --crawl-delay"),
    (["http://127.0.0.1:1/", "--delay", "100"], "--delay applies only to"),
    (["--delay", "5", "--latency", "5"], "--delay and --latency"),
    # --pages is the synthetic site's
    (["--pages", "50"], "--pages applies only to --site"),
    (["--follow", "http://127.0.0.1:1/", "--pages", "50"], "--pages applies only to --site"),
    # --site crawls its own site
    (["--site", "http://127.0.0.1:1/"], "no URL or -i"),
    (["--site", "-i", "-"], "no URL or -i"),
    (["--site", "--follow"], "not both"),
    # crawl-only flags outside crawl mode
    (["http://127.0.0.1:1/", "--depth", "2"], "--depth applies only to --follow or --site"),
    (["--max-pages", "9"], "--max-pages applies only to --follow or --site"),
    (["http://127.0.0.1:1/", "--per-host", "4"], "--per-host applies only to"),
    (["http://127.0.0.1:1/", "--crawl-delay", "1"], "--crawl-delay applies only to"),
    (["http://127.0.0.1:1/", "--db", "x.db"], "--db applies only to"),
    (["http://127.0.0.1:1/", "--domain", "example.org"], "--domain applies only to"),
    (["http://127.0.0.1:1/", "--include", "x"], "--include applies only to"),
    (["http://127.0.0.1:1/", "--no-robots"], "--no-robots applies only to"),
    (["--sitemaps"], "--sitemaps applies only to"),
    (["--site", "--resume"], "--resume needs --db"),
    (["--site", "--commit-every", "10"], "--commit-every applies only with --db"),
    (["--follow"], "needs at least one seed"),
    # engine options belong to the engines that take them
    (["--impl", "asyncio", "--client", "simple"], "--client applies only to --impl tornado"),
    (["--impl", "threads", "--transport", "pool"], "--transport applies only to --impl httpx"),
    (["--impl", "serial", "--processes", "2"], "--processes applies only to --impl processes"),
    (["--impl", "uvloop", "--loop", "asyncio"], "--loop applies only to --impl asyncio"),
    (["--impl", "tornado", "--client", "nope"], "invalid choice"),
    (["--impl", "processes", "--processes", "0"], "must be at least 1"),
    # values
    (["--delay", "5 parsecs"], "unknown unit"),
    (["--delay", "-5"], "cannot be negative"),
    (["--timeout", "0s"], "longer than 0"),
    (["--crawl-delay", "soon"], "not a duration"),
    (["-H", "no colon"], "NAME: VALUE"),
    (["-c", "0"], "at least 1"),
]


def refusal(capsys: pytest.CaptureFixture[str], argv: list[str]) -> str:
    """Why ``concur crawl ARGV`` is refused: argparse's line, or the UsageError's."""
    try:
        parse(*argv)
    except UsageError as exc:
        return str(exc)
    except SystemExit as stop:
        assert stop.code == 2
        return capsys.readouterr().err
    raise AssertionError(f"accepted: concur crawl {' '.join(argv)}")


@pytest.mark.parametrize(("argv", "says"), REFUSED, ids=[" ".join(a) for a, _ in REFUSED])
def test_flags_that_do_not_apply_are_refused(
    capsys: pytest.CaptureFixture[str], argv: list[str], says: str
) -> None:
    assert says in refusal(capsys, argv)


@pytest.mark.parametrize(
    "argv",
    [
        ["--follow", "http://127.0.0.1:1/", "--delay", "100"],
        ["--pages", "50"],
        ["--impl", "asyncio", "--client", "simple"],
        ["--site", "http://127.0.0.1:1/"],
        ["--delay", "1 parsec"],
        ["--delay", "11min"],  # over the mock server's cap: every request would be a 400
        ["-n", "5", "-o", ""],
        ["-n", "5", "--warc", ""],
    ],
)
def test_refusals_are_one_line_and_exit_2(argv: list[str]) -> None:
    done = concur("crawl", *argv)
    assert done.returncode == 2
    assert done.stdout == ""
    assert len(done.stderr.strip().splitlines()) == 1, done.stderr
    assert done.stderr.startswith("concur crawl: error: ")
    assert "Traceback" not in done.stderr


def test_the_modes_and_what_each_flag_became() -> None:
    experiment = parse("--delay", "1.5s", "-n", "30", "--timeout", "500ms")
    assert experiment.mode == "experiment" and experiment.plan is None
    assert (experiment.delay_ms, experiment.n, experiment.config.timeout) == (1500.0, 30, 0.5)
    assert parse().delay_ms == 100.0  # the book's

    site = parse("--site", "--pages", "60", "--delay", "5", "--crawl-delay", "250ms")
    assert site.mode == "site" and site.pages == 60 and site.delay_ms == 5.0
    assert site.plan is not None and site.plan.options.delay == 0.25
    assert parse("--site").delay_ms == 0.0  # the site answers at once unless asked

    follow = parse("--follow", "http://a.example/", "--crawl-delay", "2", "--per-host", "4")
    assert follow.mode == "follow" and follow.plan is not None
    assert follow.plan.seeds == ("http://a.example/",)
    assert (follow.plan.options.delay, follow.plan.options.per_host) == (2.0, 4)

    listed = parse("http://a.example/", "-H", "X-A: 1", "--user-agent", "me/1")
    assert listed.mode == "list" and listed.urls == ("http://a.example/",)
    assert listed.config.headers == (("X-A", "1"),) and listed.config.user_agent == "me/1"

    assert parse("--impl", "tornado", "--client", "simple").options == {"client": "simple"}
    assert parse("--impl", "httpx", "--transport", "pool").options == {"transport": "pool"}
    assert parse("--impl", "processes", "--processes", "3").options == {"processes": 3}
    assert parse("--impl", "asyncio").options == {}


def test_c_with_serial_is_a_one_line_warning() -> None:
    assert parse("--impl", "serial", "-c", "10").warnings == (
        "serial makes one request at a time: -c 10 is ignored",
    )
    assert parse("--impl", "serial").warnings == ()
    assert parse("--impl", "threads", "-c", "10").warnings == ()
    done = concur("crawl", "--impl", "serial", "-c", "10", "--pages", "5")  # refused anyway
    assert done.returncode == 2


MARKUP = ("``", ":mod:", ":class:", ":func:", ":meth:", ":data:")


@pytest.mark.parametrize("command", list(COMMANDS))
def test_help_is_plain_text_with_every_default(command: str) -> None:
    done = concur(command, "--help")
    assert done.returncode == 0, done.stderr
    for mark in MARKUP:
        assert mark not in done.stdout, f"concur {command} --help shows {mark}"
    sub = next(
        a for a in build_parser()._actions if isinstance(a, argparse._SubParsersAction)
    ).choices[command]
    formatter = Help(prog=sub.prog)
    for action in sub._actions:
        if not action.option_strings or action.default in (None, False, argparse.SUPPRESS):
            continue  # positional, a switch, or off unless given
        text = formatter._get_help_string(action) or ""
        assert "default" in text, f"concur {command} {action.option_strings[0]}: no default"


def test_help_names_the_units_of_durations() -> None:
    text = concur("crawl", "--help").stdout
    assert "--delay MS" in text and "--crawl-delay SECONDS" in text
    assert "--timeout SECONDS" in text
    assert "1.5s" in text and "100ms" in text


def test_a_seed_the_server_cannot_use_is_a_usage_error() -> None:
    done = concur("crawl", "--seed", "99999999999999999999", "-n", "5")
    assert done.returncode == 2 and "Traceback" not in done.stderr
    assert done.stderr.count("\n") == 1 and "64-bit" in done.stderr


def test_allow_private_reaches_the_config() -> None:
    assert parse("--follow", "http://example.org/", "--allow-private").config.allow_private
    assert not parse("--follow", "http://example.org/").config.allow_private
