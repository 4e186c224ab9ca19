"""Benchmark: crawl a site with concur's engines and with Scrapy, side by side.

Each trial is a fresh subprocess: for concur, ``concur crawl --impl NAME ... --json``; for
Scrapy, a ``CrawlSpider`` that follows every link with its ``LinkExtractor`` (``scrapy
runspider``, robots.txt obeyed, the same concurrency, per-domain limit and scope).  Both
count the time and CPU of the crawl itself, from the first request to the last answer
(concur: its ``Meter``; Scrapy: ``spider_opened`` to ``spider_closed``), so neither pays
for its imports.  Pages are 2xx answers.

Which site:

* by default the synthetic site, a fresh mock server per trial (``concur crawl --site
  --pages P --latency L``; Scrapy: the same site on its own server, scope its three
  hosts), where "exact" compares the pages found with the site's ground truth;
* ``--root URL``: any site, from that root, scope its host (``concur crawl --follow URL``);
* ``--serve DIR``: a site no one here wrote, served by nginx: the script starts nginx
  itself (a private configuration in a temporary folder, one worker, 127.0.0.1 on a free
  port, serving DIR) and stops it when it ends, and crawls its root.  For instance
  Debian's PostgreSQL manual: ``apt-get install nginx-light postgresql-doc-15`` and
  ``--serve /usr/share/doc/postgresql-doc-15/html``.  "exact" then says whether every
  trial of every contender found the same number of pages.

``--baseline-src DIR`` also runs each concur engine from another source tree (``DIR/src``
first on ``PYTHONPATH``; e.g. ``git worktree add /tmp/before HEAD~3``), as ``NAME
(baseline)``, in the same rounds: before and after, side by side.

serial is left out by default: one request at a time makes it 1 / latency pages/s by
construction (50 pages/s at 20 ms: 10,000 pages would take over three minutes).

Run:  python scripts/bench_crawl.py [--pages 10000] [--latency 20] [--per-host 32]
      [--concurrency 64] [--repeat 3] [--engines asyncio,uvloop,...] [--no-scrapy]
      [--root URL | --serve DIR] [--baseline-src DIR]
"""

from __future__ import annotations

import argparse
import ctypes
import json
import os
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import textwrap
import time
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from concur.engines import available_engines

SPIDER = textwrap.dedent(
    """
    import json, os, resource, time
    from scrapy import signals
    from scrapy.linkextractors import LinkExtractor
    from scrapy.spiders import CrawlSpider, Rule

    def cpu():
        u = resource.getrusage(resource.RUSAGE_SELF)
        return u.ru_utime + u.ru_stime

    class SiteSpider(CrawlSpider):
        name = "site"
        allowed_domains = os.environ["BENCH_DOMAINS"].split(",")
        start_urls = [os.environ["BENCH_ROOT"]]
        # No allow_domains here: the extractor compares it with host:port. The offsite
        # middleware keeps the crawl on the three hosts; ftp: links are not the site's.
        rules = (Rule(LinkExtractor(deny=[r"^ftp:"], deny_extensions=[]),
                      callback="parse_item", follow=True),)
        pages = 0

        @classmethod
        def from_crawler(cls, crawler, *args, **kwargs):
            spider = super().from_crawler(crawler, *args, **kwargs)
            crawler.signals.connect(spider.opened, signal=signals.spider_opened)
            return spider

        def opened(self, spider):
            self.t0, self.c0 = time.perf_counter(), cpu()

        def parse_start_url(self, response):
            return self.parse_item(response)

        def parse_item(self, response):
            if 200 <= response.status < 300:
                self.pages += 1
            return None

        def closed(self, reason):
            out = {"wall_s": time.perf_counter() - self.t0, "cpu_s": cpu() - self.c0,
                   "pages": self.pages, "reason": reason}
            with open(os.environ["BENCH_OUT"], "w") as fh:
                json.dump(out, fh)
    """
)


def run_concur(engine: str, args: argparse.Namespace, src: str | None = None) -> dict[str, Any]:
    """One crawl by one engine; ``src``: run the concur of that source tree instead."""
    cmd = [sys.executable, "-m", "concur", "crawl", "--impl", engine]
    if args.root:
        cmd += ["--follow", args.root]
    else:
        cmd += ["--site", "--pages", str(args.pages), "--latency", str(args.latency)]
    cmd += ["--per-host", str(args.per_host), "-c", str(args.concurrency), "--json"]
    cmd += ["--timeout", "30", "--retries", "2", "--no-progress"]
    env = None
    if src is not None:
        path = os.pathsep.join([str(Path(src, "src")), src, os.environ.get("PYTHONPATH", "")])
        env = dict(os.environ, PYTHONPATH=path.rstrip(os.pathsep))
    done = subprocess.run(cmd, capture_output=True, text=True, check=True, timeout=900, env=env)
    s = json.loads(done.stdout.strip().splitlines()[-1])
    return {
        "wall_s": s["wall_s"],
        "cpu_s": s["cpu_s"],
        "pages": s["crawl"]["pages"],
        "exact": s["ground_truth"]["exact"] if "ground_truth" in s else None,
        "rss_mb": s["peak_rss_mb"],
    }


SCRAPY_SETTINGS = {
    "DOWNLOAD_DELAY": 0,
    "ROBOTSTXT_OBEY": True,
    "AUTOTHROTTLE_ENABLED": False,
    "TELNETCONSOLE_ENABLED": False,
    "LOG_LEVEL": "ERROR",
    "RETRY_TIMES": 2,
    "HTTPCACHE_ENABLED": False,
    "COOKIES_ENABLED": False,
    "DEPTH_PRIORITY": 0,
    "REQUEST_FINGERPRINTER_IMPLEMENTATION": "2.7",
}


def scrapy_crawl(root: str, domains: list[str], args: argparse.Namespace) -> dict[str, Any]:
    """One crawl by Scrapy from ``root``, following links on ``domains``."""
    with tempfile.TemporaryDirectory() as tmp:
        spider = Path(tmp, "spider.py")
        spider.write_text(SPIDER)
        out = Path(tmp, "out.json")
        env = dict(os.environ, BENCH_ROOT=root, BENCH_DOMAINS=",".join(domains), BENCH_OUT=str(out))
        settings = {
            "CONCURRENT_REQUESTS": args.concurrency,
            "CONCURRENT_REQUESTS_PER_DOMAIN": args.per_host,
            **SCRAPY_SETTINGS,
        }
        cmd = [sys.executable, "-m", "scrapy", "runspider", str(spider)]
        for key, value in settings.items():
            cmd += ["-s", f"{key}={value}"]
        done = subprocess.run(cmd, env=env, cwd=tmp, timeout=900, capture_output=True, text=True)
        if done.returncode != 0 or not out.exists():
            hint = "pip install 'concur[scrapy]', or --no-scrapy"
            sys.exit(f"scrapy failed ({hint}):\n{done.stderr}")
        result: dict[str, Any] = json.loads(out.read_text())
    result["rss_mb"] = None
    return result


def run_scrapy(args: argparse.Namespace) -> dict[str, Any]:
    if args.root:
        result = scrapy_crawl(args.root, [urlsplit(args.root).hostname or ""], args)
        result["exact"] = None
        return result
    from mockserver.testing import serve

    with serve(
        mode="subprocess", site_pages=args.pages, site_hosts=3, latency=str(args.latency)
    ) as server:
        result = scrapy_crawl(server.url + "/", ["127.0.0.1", "127.0.0.2", "127.0.0.3"], args)
        expected = server.get_json("/__site?summary=1")["counts"]["expected"]
    result["exact"] = result["pages"] == expected
    return result


# -- nginx, for --serve --------------------------------------------------------------------

NGINX_CONF = """\
worker_processes 1;
daemon off;
pid {dir}/nginx.pid;
error_log {dir}/error.log warn;
events {{ worker_connections 4096; }}
http {{
  access_log off;
  types {{
    text/html html htm; text/css css; text/plain txt; text/xml xml;
    application/javascript js; image/png png; image/gif gif; image/jpeg jpg jpeg;
    image/svg+xml svg; application/pdf pdf;
  }}
  default_type application/octet-stream;
  keepalive_requests 1000000;
  client_body_temp_path {dir}/body;
  proxy_temp_path {dir}/proxy;
  fastcgi_temp_path {dir}/fastcgi;
  uwsgi_temp_path {dir}/uwsgi;
  scgi_temp_path {dir}/scgi;
  server {{
    listen 127.0.0.1:{port};
    location / {{ root {root}; }}
  }}
}}
"""


def _die_with_parent() -> None:
    """In the child, before exec: SIGTERM it when this script dies, however it dies."""
    libc = ctypes.CDLL(None, use_errno=True)
    libc.prctl(1, signal.SIGTERM)  # PR_SET_PDEATHSIG


@contextmanager
def nginx(root: Path) -> Iterator[str]:
    """nginx serving ``root`` on 127.0.0.1 (a free port); yields its URL, stops it after."""
    binary = shutil.which("nginx") or shutil.which("nginx", path="/usr/sbin:/usr/local/sbin")
    if binary is None:
        sys.exit("--serve needs nginx: apt-get install nginx-light")
    if not root.is_dir():
        sys.exit(f"--serve: {root} is not a folder")
    with tempfile.TemporaryDirectory(prefix="bench-crawl-nginx-") as tmp:
        os.chmod(tmp, 0o755)  # nginx's worker may run as another user
        with socket.socket() as s:
            s.bind(("127.0.0.1", 0))
            port = s.getsockname()[1]
        conf = Path(tmp, "nginx.conf")
        conf.write_text(NGINX_CONF.format(dir=tmp, port=port, root=root.resolve()))
        proc = subprocess.Popen(
            [binary, "-c", str(conf), "-p", tmp, "-e", f"{tmp}/error.log"],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
            preexec_fn=_die_with_parent,
        )
        url = f"http://127.0.0.1:{port}/"
        try:
            deadline = time.monotonic() + 10
            while True:
                try:
                    with urllib.request.urlopen(url, timeout=1):
                        break
                except OSError as exc:
                    if proc.poll() is not None or time.monotonic() > deadline:
                        log = Path(tmp, "error.log")
                        why = log.read_text() if log.exists() else str(exc)
                        sys.exit(f"nginx did not come up on {url}: {why}")
                    time.sleep(0.05)
            yield url
        finally:
            proc.terminate()
            try:
                proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()


def median_of(trials: list[dict[str, Any]]) -> dict[str, Any]:
    return {
        "pages_per_s": statistics.median(t["pages"] / t["wall_s"] for t in trials),
        "cpu_us_per_page": statistics.median(t["cpu_s"] / t["pages"] * 1e6 for t in trials),
        "pages_per_cpu_s": statistics.median(t["pages"] / t["cpu_s"] for t in trials),
        "wall_s": statistics.median(t["wall_s"] for t in trials),
        "pages": trials[0]["pages"],
        "exact": None if trials[0]["exact"] is None else all(t["exact"] for t in trials),
        "rss_mb": trials[0]["rss_mb"],
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--pages", type=int, default=10_000)
    parser.add_argument("--latency", type=int, default=20, help="ms per answer")
    parser.add_argument("--per-host", type=int, default=32)
    parser.add_argument("--concurrency", type=int, default=64)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--engines", default="")
    parser.add_argument("--no-scrapy", action="store_true")
    where = parser.add_mutually_exclusive_group()
    where.add_argument("--root", metavar="URL", help="crawl this site instead of the synthetic one")
    where.add_argument("--serve", metavar="DIR", help="start nginx serving DIR and crawl it")
    parser.add_argument(
        "--baseline-src", metavar="DIR", help="also run each engine from this source tree"
    )
    parser.add_argument(
        "--baseline-engines",
        metavar="NAMES",
        help="only these engines from --baseline-src (one that is newer than it has no baseline)",
    )
    parser.add_argument("--json", metavar="FILE", help="also write the medians as JSON")
    args = parser.parse_args()
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))  # so that nginx is stopped too

    if args.serve:
        with nginx(Path(args.serve)) as url:
            args.root = url
            run(args)
    else:
        run(args)


def run(args: argparse.Namespace) -> None:
    names = args.engines.split(",") if args.engines else available_engines()
    if not args.engines:
        names = [n for n in names if n != "serial"]
    runners: dict[str, Any] = {}
    for n in names:
        runners[n] = lambda n=n: run_concur(n, args)
        wanted = args.baseline_engines.split(",") if args.baseline_engines else names
        if args.baseline_src and n in wanted:
            runners[f"{n} (baseline)"] = lambda n=n: run_concur(n, args, args.baseline_src)
    if not args.no_scrapy:
        runners["scrapy"] = lambda: run_scrapy(args)
    trials: dict[str, list[dict[str, Any]]] = {name: [] for name in runners}
    for i in range(args.repeat):  # round-robin: machine noise is shared by all
        for name, runner in runners.items():
            trials[name].append(runner())
            t = trials[name][-1]
            print(
                f"  {i + 1}/{args.repeat} {name:10} {t['pages']} pages {t['wall_s']:.2f} s "
                f"{t['cpu_s']:.2f} s CPU",
                file=sys.stderr,
            )
    medians = {name: median_of(ts) for name, ts in trials.items()}
    if args.root:  # no ground truth: every trial should at least find as many pages
        same = len({t["pages"] for ts in trials.values() for t in ts}) == 1
        for m in medians.values():
            m["exact"] = same
    base = medians.get("scrapy")
    if args.serve:
        site = f"{args.serve} served by nginx, crawled from {args.root}"
    elif args.root:
        site = f"{args.root} and what it links to on its host"
    else:
        site = f"{args.pages:,}-page synthetic site, {args.latency} ms per answer"
    print(
        f"\n{site}, {args.concurrency} in flight, {args.per_host} per host; "
        f"medians of {args.repeat}\n"
    )
    print("| engine | pages | wall s | pages/s | CPU µs/page | pages per CPU-s | vs Scrapy |")
    print("|---|---:|---:|---:|---:|---:|---:|")
    for name, m in medians.items():
        ratio = f"{m['pages_per_cpu_s'] / base['pages_per_cpu_s']:.1f}x" if base else "-"
        label = "" if m["exact"] else (" (not exact)" if not args.root else " (differs)")
        print(
            f"| {name} | {m['pages']:,}{label} | {m['wall_s']:.2f} | {m['pages_per_s']:,.0f} | "
            f"{m['cpu_us_per_page']:,.0f} | {m['pages_per_cpu_s']:,.0f} | {ratio} |"
        )
    pairs = {}
    if args.baseline_src:  # before/after, paired by round
        print()
        kept = [name for name in trials if name.endswith(" (baseline)")]
        for n in names:  # an engine the baseline lacks is paired with its first engine
            ref = f"{n} (baseline)" if f"{n} (baseline)" in trials else kept[0]
            now, before = trials[n], trials[ref]
            per_round = [
                (a["cpu_s"] / a["pages"]) / (b["cpu_s"] / b["pages"])
                for a, b in zip(now, before, strict=True)
            ]
            pairs[n] = statistics.median(per_round)
            print(
                f"{n}: CPU per page {medians[n]['cpu_us_per_page']:,.0f} µs against "
                f"{medians[ref]['cpu_us_per_page']:,.0f} µs, {ref}; "
                f"ratio {pairs[n]:.2f} (median of the rounds' ratios: "
                + ", ".join(f"{r:.2f}" for r in per_round)
                + ")"
            )
    if args.json:
        out = {"args": vars(args), "medians": medians, "vs_baseline": pairs, "trials": trials}
        Path(args.json).write_text(json.dumps(out, indent=2))


if __name__ == "__main__":
    main()
