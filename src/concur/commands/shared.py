"""``concur crawl --workers N`` and ``--frontier URL``: one crawl, many worker processes.

The crawl is seeded into a Redis/Valkey server — the one ``--frontier`` names, or an
embedded Valkey started here (:mod:`concur.cluster.valkey`; its data beside ``--db``,
so ``--resume`` continues after ``kill -9`` of everything).  Then ``--workers`` worker
processes crawl it (:mod:`concur.cluster.launch`; more may join from other machines with
``concur worker``), and when the crawl is done the summary covers all of it: every
record on the server, the workers' CPU together, and with ``--site`` the ground truth.
"""

from __future__ import annotations

import shlex
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import replace
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from concur.args import UsageError
from concur.cluster.frontier import redact
from concur.commands import follow, interrupt
from concur.commands.crawl_args import CrawlArgs, with_seeds
from concur.commands.output import report, write_jsonl
from concur.errors import ConcurError

__all__ = ["run"]


def run(args: CrawlArgs, given: frozenset[str]) -> int:
    """Seed the shared crawl, run its workers here, and report the whole crawl.

    ``given`` holds the flags on the command line: with ``--resume`` the crawl on the
    server decides the rest, as a crawl file does (:func:`concur.commands.resume.resumed`).
    """
    from concur.cluster.frontier import FrontierSpec, RedisFrontier, require_client
    from concur.commands.resume import resumed, site_settings

    require_client()  # before anything starts: the pip line, and nothing else
    assert args.plan is not None
    with _server(args) as url:
        spec = FrontierSpec(url, args.name, args.lease)
        frontier = RedisFrontier(spec)
        try:
            port = None
            if args.plan.resume:
                saved = frontier.saved()
                if saved is None:
                    raise ConcurError(f"{frontier.where()}: no such crawl to resume")
                try:
                    args = resumed(args, given, saved, where=frontier.where())
                except UsageError as exc:
                    raise ConcurError(str(exc)) from None
                seeds = saved.plan.seeds
                port = urlsplit(seeds[0]).port if seeds else None
            with follow._site(args, port=port) as server:
                extra = {}
                if server is not None:
                    hosts = tuple(f"127.0.0.{i}" for i in range(1, follow.SITE_HOSTS + 1))
                    args = with_seeds(args, (server.url + "/",), hosts, server.ca_file)
                    extra["site"] = site_settings(args, hosts)
                plan = args.plan
                assert plan is not None
                try:
                    frontier.seed(plan, args.config, resume=plan.resume, extra=extra)
                except (FileExistsError, LookupError) as exc:
                    raise ConcurError(str(exc)) from None
                if args.workers == 0:
                    return _seeded(args, spec)
                return _crawl(args, frontier, server)
        finally:
            frontier.close()


def _crawl(args: CrawlArgs, frontier: Any, server: Any) -> int:
    from concur.cluster.launch import run_workers, worker_argv
    from concur.progress import shared_progress
    from concur.records import CrawlResult

    n = args.workers if args.workers is not None else 1
    argv = worker_argv(frontier.spec, args.impl, args.config.concurrency, args.engine_options)
    if not args.json:
        print(
            f"concur: {n} {args.impl} workers crawling {frontier.where()}; more may join with: "
            f"concur worker --frontier {redact(frontier.spec.url)} --name {args.name}",
            file=sys.stderr,
        )
    show = args.progress and not args.json and sys.stderr.isatty()
    try:
        with shared_progress(f"{args.impl} ×{n}", show, frontier.counters) as poll:
            workers = run_workers([argv] * n, poll=poll)
    except KeyboardInterrupt as stop:  # the workers hand in what they finished, and stop
        again = _resume_command(args)
        where = f"; continue it with: {again}" if again else " (it was on a private server)"
        print(f"concur: interrupted: the crawl is kept{where}", file=sys.stderr)
        return interrupt.exit_status(stop)
    status = frontier.status()
    records = list(frontier.records())
    if status["state"] != "done":
        why = "; ".join(sorted(set(workers.complaints))) or "they stopped"
        raise ConcurError(
            f"the workers stopped before the crawl was done ({why}); it is kept on the "
            f"server: the same command with --resume continues it"
        )
    peaks = [s.get("peak_in_flight", 0) for s in workers.summaries]
    # the workers' crawl CPU, as each reports it: start-up and imports left out, as a local
    # crawl leaves out its engine's imports (with them: workers.cpu_s, kept in the summary)
    own = [float(s["cpu_s"]) for s in workers.summaries if "cpu_s" in s]
    cpu = sum(own) if own and len(own) == len(workers.summaries) else workers.cpu_s
    result = CrawlResult(
        args.impl,
        args.config,
        tuple(records),
        workers.wall_s,
        cpu,
        max((s.get("peak_rss_mb", 0.0) for s in workers.summaries), default=0.0),
        sum(peaks),
        {"mode": "shared", **{k: status[k] for k in _COUNTERS}},
    )
    plan = args.plan
    assert plan is not None
    local = replace(args, plan=replace(plan, db=None))  # the records are the server's
    summary = follow._summary(local, result, server)
    summary["shared"] = _shared(status, workers, frontier)
    return report(args, summary, _render, lambda path: write_jsonl(path, records))


_COUNTERS = (
    "admitted",
    "retries",
    "expired",
    "disallowed",
    "robots_fetches",
    "redirects",
    "blocked",
)


def _shared(status: dict[str, Any], workers: Any, frontier: Any) -> dict[str, Any]:
    """What the summary says of the sharing: workers, round trips, the server's cost."""
    info = frontier.call(frontier.client.info, "cpu")
    trips = sum(s.get("worker", {}).get("round_trips", 0) for s in workers.summaries)
    records = status["records"] or 1
    return {
        "workers": len(workers.statuses),
        "workers_failed": workers.failed,
        "server": frontier.where(),
        "round_trips": trips,
        "round_trips_per_record": round(trips / records, 3),
        "stale_completions": sum(s.get("worker", {}).get("stale", 0) for s in workers.summaries),
        "leases_expired": status["expired"],
        "workers_cpu_with_startup_s": round(workers.cpu_s, 3),
        "server_cpu_s": round(info.get("used_cpu_user", 0.0) + info.get("used_cpu_sys", 0.0), 3),
        "server_memory_bytes": status["memory_bytes"],
        "per_worker": [
            {k: s.get(k) for k in ("requests", "cpu_s", "wall_s")}
            | {"records": s.get("worker", {}).get("records")}
            for s in workers.summaries
        ],
    }


def _render(summary: dict[str, Any]) -> str:
    from concur.report import render_crawl

    s = summary["shared"]
    return render_crawl(summary) + (
        f"\nshared      {s['workers']} workers ({s['workers_failed']} failed)   "
        f"{s['round_trips_per_record']:.2f} round trips a record   "
        f"{s['leases_expired']} leases expired   server CPU {s['server_cpu_s']:.2f} s"
    )


def _resume_command(args: CrawlArgs) -> str | None:
    """The command line that continues this shared crawl (None: its server is gone)."""
    if args.frontier is None:
        command = interrupt.resume_command(args)  # --db FILE: the server's data beside it
        return None if command is None else f"{command} --workers {args.workers}"
    argv = ["concur", "crawl", "--site" if args.mode == "site" else "--follow", "--resume"]
    argv += ["--frontier", redact(args.frontier), "--name", args.name, "--impl", args.impl]
    argv += ["--workers", str(args.workers if args.workers is not None else 1)]
    return shlex.join(argv)


def _seeded(args: CrawlArgs, spec: Any) -> int:
    print(
        f"concur: seeded crawl {spec.name!r} at {redact(spec.url)}; join it with: "
        f"concur worker --frontier {redact(spec.url)} --name {spec.name} --impl {args.impl}",
        file=sys.stderr,
    )
    return 0


@contextmanager
def _server(args: CrawlArgs) -> Iterator[str]:
    """The frontier's server URL: ``--frontier``, or an embedded Valkey for this run."""
    if args.frontier is not None:
        yield args.frontier
        return
    from concur.cluster.valkey import EmbeddedValkey

    plan = args.plan
    assert plan is not None
    data = Path(plan.db + ".valkey") if plan.db else None
    if plan.resume and (data is None or not data.is_dir()):
        raise ConcurError(f"nothing to resume: no embedded server's data in {data}")
    with EmbeddedValkey(data) as server:
        yield server.url
