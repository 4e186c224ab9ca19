"""Scrapy fetching the same URLs at the same concurrency: the crawler people would pick.

Run as ``python -m concur.bench.scrapy_trial`` with the same JSON as a concur trial on
stdin; prints a summary with the same keys.  Scrapy is an optional reference point
(``pip install 'concur[scrapy]'``), configured to do only what concur's engines do: no robots.txt,
no cookies, no download delay, no per-domain limit below the concurrency.
"""

from __future__ import annotations

import json
import resource
import sys
import time
from typing import Any


def _cpu() -> float:
    ru = resource.getrusage(resource.RUSAGE_SELF)
    return ru.ru_utime + ru.ru_stime


def run(spec: dict[str, Any]) -> dict[str, Any]:
    try:
        import scrapy
        from scrapy.crawler import CrawlerProcess
    except ImportError:
        return {"error": "scrapy is not installed: pip install 'concur[scrapy]'"}
    from concur.experiment import book_urls
    from concur.meter import own_peak_rss_kib

    u = spec["urls"]
    urls = book_urls(
        u["base"],
        u["n"],
        "scrapy",
        delay_ms=u.get("delay_ms"),
        latency=u.get("latency"),
        extra=u.get("extra", ""),
    )
    conc = spec["config"]["concurrency"]
    counts = {"ok": 0, "failed": 0}
    latencies: list[float] = []

    class Fetch(scrapy.Spider):
        name = "concur-reference"

        async def start(self) -> Any:
            for url in urls:
                yield scrapy.Request(
                    url, callback=self.parse, errback=self.failed, dont_filter=True
                )

        def parse(self, response: Any) -> None:
            counts["ok"] += 1
            latencies.append(response.meta.get("download_latency", 0.0) * 1e3)

        def failed(self, failure: Any) -> None:
            counts["failed"] += 1

    settings = {
        "CONCURRENT_REQUESTS": conc,
        "CONCURRENT_REQUESTS_PER_DOMAIN": conc,
        "DOWNLOAD_DELAY": 0,
        "ROBOTSTXT_OBEY": False,
        "COOKIES_ENABLED": False,
        "RETRY_TIMES": spec["config"].get("retries", 0),
        "DOWNLOAD_TIMEOUT": spec["config"].get("timeout", 30),
        "LOG_LEVEL": "ERROR",
        "TELNETCONSOLE_ENABLED": False,
        "REACTOR_THREADPOOL_MAXSIZE": 4,
    }
    process = CrawlerProcess(settings)
    process.crawl(Fetch)
    c0, t0 = _cpu(), time.perf_counter()
    process.start()
    wall, cpu = time.perf_counter() - t0, _cpu() - c0
    n = len(urls)
    if counts["ok"] + counts["failed"] == 0:  # e.g. a Scrapy too old for ``async def start``
        return {"error": f"scrapy {scrapy.__version__} sent no request (concur needs >= 2.13)"}
    lat = sorted(latencies)
    return {
        "summary": {
            "impl": "scrapy",
            "requests": n,
            "ok": counts["ok"],
            "failed": n - counts["ok"],
            "wall_s": wall,
            "req_per_s": n / wall if wall else 0.0,  # every URL accounted for, as for engines
            "cpu_s": cpu,
            "cpu_us_per_request": cpu / n * 1e6 if n else 0.0,
            "latency_ms": {
                "p50": lat[len(lat) // 2] if lat else 0.0,
                "p99": lat[int(len(lat) * 0.99)] if lat else 0.0,
            },
            "peak_rss_mb": own_peak_rss_kib() / 1024,
            "version": scrapy.__version__,
        }
    }


def main() -> int:
    spec = json.loads(sys.stdin.read())
    sys.stdout.write("\n" + json.dumps(run(spec)) + "\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
