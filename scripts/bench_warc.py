"""What ``--warc`` costs: a crawl's CPU per page with and without it, paired.

    python scripts/bench_warc.py [--engines asyncio,uvloop,threads] [--pages 2000] [--pairs 5]
    python scripts/bench_warc.py --serve /usr/share/doc/postgresql-doc-15/html

Each pair crawls the synthetic site (no delay) — or, with ``--serve DIR``, a real site
that nginx serves from DIR on 127.0.0.1 (``scripts/bench_crawl.py`` starts it), or any
``--root URL`` — once without ``--warc`` and once with it,
alternating which goes first, with every engine asked for; the CPU per page is the one
the crawl's own summary reports (the client's CPU over its 2xx pages: start-up and
imports left out).  The table shows medians and the median of the paired ratios, which
cancels most of a shared machine's drift; the issue's bound is +10 %.  What ``--warc``
adds per page: the engine keeps the payload as received and the request headers, concur
decodes a copy for link extraction, and ``concur.warc`` writes two records — three sha1
digests, two gzip members (ISA-L's deflate when ``isal`` is installed, else zlib: the
line above the table says which), in batches of exchanges.  The crawls run with this
Python, so ``isal`` counts if it imports here.
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path

from concur.warc import GZIP_LIBRARY  # what the crawls, run with this Python, use


def crawl(engine: str, pages: int, warc: Path | None, root: str | None = None) -> float:
    """One crawl of the site (the synthetic one, or ``root``'s): its CPU µs per page
    (from its summary)."""
    argv = [sys.executable, "-m", "concur", "crawl", "--impl", engine, "--json", "--no-progress"]
    argv += ["--follow", root] if root else ["--site", "--pages", str(pages)]
    if warc is not None:
        argv += ["--warc", str(warc)]
    run = subprocess.run(argv, capture_output=True, text=True, timeout=600, check=True)
    summary = json.loads(run.stdout.strip().splitlines()[-1])
    if root is None:
        assert summary["ground_truth"]["exact"], summary["ground_truth"]
    return float(summary["crawl"]["cpu_us_per_page"])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--engines", default="asyncio,uvloop,threads")
    parser.add_argument("--pages", type=int, default=2000)
    parser.add_argument("--pairs", type=int, default=5)
    parser.add_argument("--plain", action="store_true", help="write .warc (records not gzipped)")
    where = parser.add_mutually_exclusive_group()
    where.add_argument("--root", metavar="URL", help="crawl this site instead of the synthetic one")
    where.add_argument("--serve", metavar="DIR", help="start nginx serving DIR and crawl it")
    args = parser.parse_args()
    if args.serve:
        from bench_crawl import nginx  # this script's folder is on sys.path

        with nginx(Path(args.serve)) as url:
            run(args, url, f"{args.serve} served by nginx")
    else:
        run(args, args.root, args.root or f"the synthetic site, {args.pages:,} pages, no delay")


def run(args: argparse.Namespace, root: str | None, site: str) -> None:
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        for engine in args.engines.split(","):
            plain: list[float] = []
            kept: list[float] = []
            size = 0
            for i in range(args.pairs):
                warc = Path(tmp) / f"{engine}-{i}.warc{'' if args.plain else '.gz'}"
                order = (None, warc) if i % 2 == 0 else (warc, None)
                for target in order:
                    cpu = crawl(engine, args.pages, target, root)
                    (plain if target is None else kept).append(cpu)
                size = warc.stat().st_size
                print(f"{engine} pair {i + 1}: {plain[-1]:,.0f} vs {kept[-1]:,.0f} µs/page",
                      file=sys.stderr)  # fmt: skip
            ratios = [k / p for p, k in zip(plain, kept, strict=True)]
            rows.append((engine, statistics.median(plain), statistics.median(kept),
                         statistics.median(ratios) - 1, size))  # fmt: skip
    gzip = "records not gzipped (.warc)" if args.plain else f"gzip by {GZIP_LIBRARY}"
    print(f"\n{site}; medians of {args.pairs} pairs; {gzip}\n")
    print("| engine | CPU µs/page | with --warc | paired ratio | WARC file |")
    print("|---|---:|---:|---:|---:|")
    for engine, a, b, ratio, size in rows:
        print(f"| {engine} | {a:,.0f} | {b:,.0f} | {ratio:+.1%} | {size / 2**20:,.1f} MiB |")


if __name__ == "__main__":
    main()
