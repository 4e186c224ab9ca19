"""Micro-benchmark: link extraction against the HTML parser's own time, on real pages.

Issue 14's target: ``extract_links`` on real pages costs at most 1.5 times what the HTML
parser alone takes on the same pages, that is selectolax (lexbor) parsing each page and
collecting the ``href`` of its ``<a>`` and ``<area>`` elements, done the quickest way
selectolax offers (``tree.tags(...)``, ``node.attrs.get("href")``).  Everything above
that (the head's title, ``<base>`` and ``<link rel=next>``, joining, normalising and
de-duplicating) is what concur adds.

Every page is read into memory first; then, round after round, each contender runs
over all the pages (round-robin, so machine noise falls on all alike) and its CPU time
(``time.process_time``) is divided by the number of pages.  The ratio is taken within
each round and its median printed: the figure to compare between machines.

Contenders: ``parse`` (the parser alone), ``parse + hrefs`` (the yardstick),
``extract_links`` (concur as installed) and, with ``--reference``, the extraction concur
had before ada-url (``tests/crawl/links_reference.py``, on the urllib normaliser).

Run:  python scripts/bench_links.py [--dir /usr/share/doc/postgresql-doc-15/html | --site N]
      [--min-kib K] [--limit N] [--repeat 9] [--reference] [--json FILE]
The default directory is Debian's PostgreSQL manual (``apt-get install postgresql-doc-15``).
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from selectolax.lexbor import LexborHTMLParser

from concur.crawl.links import extract_links
from concur.crawl.urls import page_ref

PG_DOCS = "/usr/share/doc/postgresql-doc-15/html"
ORIGIN = "http://127.0.0.1:8080/"  # where the pages would be served from: only a base

Pages = list[tuple[str, bytes]]


def load(folder: Path, limit: int | None, min_kib: float) -> Pages:
    files = sorted(p for p in folder.rglob("*") if p.suffix in (".html", ".htm"))
    files = [p for p in files if p.stat().st_size >= min_kib * 1024]
    if not files:
        sys.exit(f"no .html files under {folder} (apt-get install postgresql-doc-15?)")
    return [(ORIGIN + p.relative_to(folder).as_posix(), p.read_bytes()) for p in files[:limit]]


def synthetic(n: int) -> Pages:
    """The first ``n`` pages of the synthetic site (seed 0, three hosts), rendered here."""
    from mockserver.site.graph import SiteGraph
    from mockserver.site.render import Renderer

    graph = SiteGraph(pages=max(n, 10), hosts=3, seed=0, port=8080)
    render = Renderer(graph)
    return [
        (graph.origins[graph.host_of(j)] + graph.page_path(j), render.page_html(j))
        for j in range(n)
    ]


def parse_only(pages: Pages) -> None:
    for _, body in pages:
        LexborHTMLParser(body)


def parse_and_hrefs(pages: Pages) -> None:
    for _, body in pages:
        tree = LexborHTMLParser(body)
        [node.attrs.get("href") for tag in ("a", "area") for node in tree.tags(tag)]


def concur_links(pages: Pages) -> None:
    for url, body in pages:
        extract_links(body, url, "text/html")


def reference_contender() -> Callable[[Pages], None]:
    sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests" / "crawl"))
    from links_reference import extract_links as before

    def reference_links(pages: Pages) -> None:
        for url, body in pages:
            before(body, url, "text/html")

    return reference_links


def shape(pages: Pages) -> dict[str, float]:
    """What the pages are like: size, hrefs, distinct references, links found."""
    hrefs = refs = links = 0
    for url, body in pages:
        tree = LexborHTMLParser(body)
        found = [h for tag in ("a", "area") for n in tree.tags(tag) if (h := n.attrs.get("href"))]
        hrefs += len(found)
        refs += len({page_ref(h) for h in found})
        links += len(extract_links(body, url, "text/html"))
    n = len(pages)
    return {
        "pages": n,
        "kib_per_page": sum(len(b) for _, b in pages) / n / 1024,
        "hrefs_per_page": hrefs / n,
        "distinct_refs_per_page": refs / n,
        "links_per_page": links / n,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--dir", default=PG_DOCS, help="a folder of .html pages")
    parser.add_argument("--limit", type=int, help="at most this many pages")
    parser.add_argument("--min-kib", type=float, default=0, help="only pages this large")
    parser.add_argument("--site", type=int, metavar="N", help="the synthetic site's first N pages")
    parser.add_argument("--repeat", type=int, default=9, help="rounds (median taken)")
    parser.add_argument("--reference", action="store_true", help="also the pre-ada extraction")
    parser.add_argument("--json", metavar="FILE", help="also write the figures as JSON")
    args = parser.parse_args()

    pages = synthetic(args.site) if args.site else load(Path(args.dir), args.limit, args.min_kib)
    where = "the synthetic site (seed 0)" if args.site else args.dir
    contenders: dict[str, Callable[[Pages], None]] = {
        "parse": parse_only,
        "parse + hrefs": parse_and_hrefs,
        "extract_links": concur_links,
    }
    if args.reference:
        contenders["extract_links (before ada)"] = reference_contender()
    for run in contenders.values():  # warm-up: imports, caches, the allocator
        run(pages[:50])

    times: dict[str, list[float]] = {name: [] for name in contenders}
    for _ in range(args.repeat):
        for name, run in contenders.items():
            start = time.process_time()
            run(pages)
            times[name].append((time.process_time() - start) / len(pages) * 1e6)
    yard = times["parse + hrefs"]
    info = shape(pages)
    print(
        f"\n{info['pages']:,} pages from {where}: {info['kib_per_page']:.1f} KiB, "
        f"{info['hrefs_per_page']:.1f} hrefs, {info['distinct_refs_per_page']:.1f} distinct "
        f"references and {info['links_per_page']:.1f} links a page; medians of {args.repeat} "
        "rounds\n"
    )
    print("| contender | CPU µs/page | min-max | vs parse + hrefs |")
    print("|---|---:|---:|---:|")
    out: dict[str, Any] = {"args": vars(args), "pages": info, "results": {}}
    for name, ts in times.items():
        ratio = statistics.median(t / y for t, y in zip(ts, yard, strict=True))
        print(
            f"| {name} | {statistics.median(ts):.1f} | {min(ts):.1f}-{max(ts):.1f} | {ratio:.2f}x |"
        )
        out["results"][name] = {"us_per_page": statistics.median(ts), "ratio": ratio, "runs": ts}
    if args.json:
        Path(args.json).write_text(json.dumps(out, indent=2))


if __name__ == "__main__":
    main()
