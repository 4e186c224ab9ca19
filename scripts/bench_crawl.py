"""Benchmark: crawl the synthetic site with every engine and with Scrapy, side by side.

Each trial is a fresh subprocess against a fresh mock server (its own subprocess): for
concur, ``concur crawl --impl NAME --site --pages P --latency L --per-host K -c C --json``;
for Scrapy, a ``CrawlSpider`` that follows every link with its ``LinkExtractor``
(``scrapy runspider``, robots.txt obeyed, the same concurrency, per-domain limit and
scope: the site's three hosts).  Both count the time and CPU of the crawl itself, from
the first request to the last answer (concur: its ``Meter``; Scrapy: ``spider_opened`` to
``spider_closed``), so neither pays for its imports.  Pages are 2xx answers.

serial is left out by default: one request at a time makes it 1 / latency pages/s by
construction (50 pages/s at 20 ms: 10,000 pages would take over three minutes).

Run:  python scripts/bench_crawl.py [--pages 10000] [--latency 20] [--per-host 32]
      [--concurrency 64] [--repeat 3] [--engines asyncio,uvloop,...] [--no-scrapy]
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import textwrap
from pathlib import Path
from typing import Any

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
        allowed_domains = ["127.0.0.1", "127.0.0.2", "127.0.0.3"]
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


def run_concur(engine: str, args: argparse.Namespace) -> dict[str, Any]:
    cmd = [sys.executable, "-m", "concur", "crawl", "--impl", engine, "--site"]
    cmd += ["--pages", str(args.pages), "--latency", str(args.latency)]
    cmd += ["--per-host", str(args.per_host), "-c", str(args.concurrency), "--json"]
    cmd += ["--timeout", "30", "--retries", "2"]
    done = subprocess.run(cmd, capture_output=True, text=True, check=True, timeout=900)
    s = json.loads(done.stdout.strip().splitlines()[-1])
    pages = s["crawl"]["pages"]
    return {
        "wall_s": s["wall_s"],
        "cpu_s": s["cpu_s"],
        "pages": pages,
        "exact": s["ground_truth"]["exact"],
        "rss_mb": s["peak_rss_mb"],
    }


def run_scrapy(args: argparse.Namespace) -> dict[str, Any]:
    from mockserver.testing import serve

    with (
        serve(
            mode="subprocess",
            site_pages=args.pages,
            site_hosts=3,
            latency=str(args.latency),
        ) as server,
        tempfile.TemporaryDirectory() as tmp,
    ):
        spider = Path(tmp, "spider.py")
        spider.write_text(SPIDER)
        out = Path(tmp, "out.json")
        env = dict(os.environ, BENCH_ROOT=server.url + "/", BENCH_OUT=str(out))
        settings = {
            "CONCURRENT_REQUESTS": args.concurrency,
            "CONCURRENT_REQUESTS_PER_DOMAIN": args.per_host,
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
        cmd = [sys.executable, "-m", "scrapy", "runspider", str(spider)]
        for key, value in settings.items():
            cmd += ["-s", f"{key}={value}"]
        subprocess.run(cmd, env=env, cwd=tmp, check=True, timeout=900, capture_output=True)
        result: dict[str, Any] = json.loads(out.read_text())
        expected = server.get_json("/__site?summary=1")["counts"]["expected"]
        result["exact"] = result["pages"] == expected
        result["rss_mb"] = None
        return result


def median_of(trials: list[dict[str, Any]]) -> dict[str, Any]:
    return {
        "pages_per_s": statistics.median(t["pages"] / t["wall_s"] for t in trials),
        "cpu_us_per_page": statistics.median(t["cpu_s"] / t["pages"] * 1e6 for t in trials),
        "pages_per_cpu_s": statistics.median(t["pages"] / t["cpu_s"] for t in trials),
        "wall_s": statistics.median(t["wall_s"] for t in trials),
        "pages": trials[0]["pages"],
        "exact": all(t["exact"] for t in trials),
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
    parser.add_argument("--json", metavar="FILE", help="also write the medians as JSON")
    args = parser.parse_args()

    names = args.engines.split(",") if args.engines else available_engines()
    if not args.engines:
        names = [n for n in names if n != "serial"]
    runners: dict[str, Any] = {n: (lambda n=n: run_concur(n, args)) for n in names}
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
    base = medians.get("scrapy")
    print(
        f"\n{args.pages:,}-page site, {args.latency} ms per answer, {args.concurrency} in flight, "
        f"{args.per_host} per host; medians of {args.repeat}\n"
    )
    print("| engine | pages | wall s | pages/s | CPU µs/page | pages per CPU-s | vs Scrapy |")
    print("|---|---:|---:|---:|---:|---:|---:|")
    for name, m in medians.items():
        ratio = f"{m['pages_per_cpu_s'] / base['pages_per_cpu_s']:.1f}x" if base else "-"
        pages = f"{m['pages']:,}" + ("" if m["exact"] else " (not exact)")
        print(
            f"| {name} | {pages} | {m['wall_s']:.2f} | {m['pages_per_s']:,.0f} | "
            f"{m['cpu_us_per_page']:,.0f} | {m['pages_per_cpu_s']:,.0f} | {ratio} |"
        )
    if args.json:
        Path(args.json).write_text(json.dumps({"args": vars(args), "medians": medians}, indent=2))


if __name__ == "__main__":
    main()
