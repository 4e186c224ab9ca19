"""HTTPS from the command line: ``concur serve --tls`` and ``concur crawl --tls / --ca-file``."""

from __future__ import annotations

import json
import ssl
import subprocess
import sys
import urllib.request
from pathlib import Path

import pytest

from tests.commands.cli_helpers import concur

pytest.importorskip("trustme")


def test_the_experiment_over_https() -> None:
    run = concur("--impl", "asyncio", "--tls", "-n", "40", "--delay", "5", "--json")
    assert run.returncode == 0, run.stderr
    summary = json.loads(run.stdout.strip().splitlines()[-1])
    assert (summary["ok"], summary["failed"]) == (40, 0)


def test_the_site_over_https_is_found_exactly(tmp_path: Path) -> None:
    out = tmp_path / "pages.jsonl"
    run = concur("--impl", "threads", "--site", "--tls", "--pages", "60", "--json", "-o", str(out))
    assert run.returncode == 0, run.stderr
    summary = json.loads(run.stdout.strip().splitlines()[-1])
    assert summary["ground_truth"]["exact"], summary["ground_truth"]
    urls = [json.loads(line)["url"] for line in out.read_text().splitlines()]
    assert urls and all(u.startswith("https://") for u in urls)


def test_tls_applies_to_the_embedded_server_only() -> None:
    run = concur("--tls", "http://127.0.0.1:9/")
    assert run.returncode == 2
    assert "--tls applies only to the experiment (no URL) or --site" in run.stderr


def test_a_ca_file_that_is_no_pem_is_a_usage_error(tmp_path: Path) -> None:
    bad = tmp_path / "ca.pem"
    bad.write_text("not a certificate\n")
    run = concur("--ca-file", str(bad), "http://127.0.0.1:9/")
    assert run.returncode == 2
    assert run.stderr.count("\n") == 1 and "not a PEM file" in run.stderr


def test_serve_tls_prints_its_ca_and_serves_it(tmp_path: Path) -> None:
    ca = tmp_path / "ca.pem"
    proc = subprocess.Popen(
        [sys.executable, "-m", "concur", "serve", "--tls", "--tls-ca", str(ca), "--tls-name",
         "docs.example"],
        stdout=subprocess.PIPE, text=True,
    )  # fmt: skip
    try:
        assert proc.stdout is not None
        url = proc.stdout.readline().split(" on ", 1)[1].split()[0]
        assert url.startswith("https://127.0.0.1:")
        line = proc.stdout.readline()
        assert str(ca) in line and "docs.example" in line
        context = ssl.create_default_context(cafile=str(ca))
        with urllib.request.urlopen(url + "/__ca.pem", context=context, timeout=10) as resp:
            assert resp.read() == ca.read_bytes()
        plain = ssl.create_default_context()  # the system's CAs do not know this one
        with pytest.raises(urllib.error.URLError, match="CERTIFICATE_VERIFY_FAILED"):
            urllib.request.urlopen(url + "/__health", context=plain, timeout=10)
    finally:
        proc.terminate()
        proc.wait(timeout=10)
        assert proc.stdout is not None
        proc.stdout.close()
    assert ca.exists()  # a CA file the user placed is left for them
