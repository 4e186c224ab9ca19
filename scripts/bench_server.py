"""Is the mock server ever the bottleneck?  wrk against it and against nginx, side by side.

    python scripts/bench_server.py [--duration 10] [--repeats 3] [--skip-10k]

Needs ``wrk`` and ``nginx`` on PATH (``apt-get install wrk nginx``); everything runs on
127.0.0.1 and stops when the script does.  Two measurements (issue 2):

1. **Throughput at zero delay**, ``wrk -t1 -c100``, one server process each, the runs
   interleaved (mock replay, mock uncached, nginx; again; again) and the median taken:

   * ``/add`` — one request repeated byte for byte, which the server answers from its
     replay cache (what a load generator hammering one URL gets);
   * ``/add?name=x&delay=0&id=N`` — a new URL every request (a small wrk Lua script),
     so every request goes through the parser and the router: the honest figure;
   * nginx, 1 worker, a static 1-byte file, ``access_log off``, keep-alive unlimited and
     the open-file cache on (tuned in its favour).

2. **10,000 connections, each request delayed 100 ms**: ``wrk -t2 -c10000 -d10s
   --timeout 5s`` against ``/add?delay=100`` on a fresh server, then the server's own
   ``/__stats``: how late it answered compared with the 100 ms asked (p50, p99).

Prints the machine, the commands and a markdown table (the figures in
docs/benchmarks.md come from here).  Machines are noisy: compare the ratios in one run.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import re
import resource
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from mockserver.testing import serve

UNCACHED_LUA = """\
-- A new URL for every request: no cache can answer it.
counter = 0
request = function()
  counter = counter + 1
  return wrk.format(nil, "/add?name=x&delay=0&id=" .. counter)
end
"""

NGINX_CONF = """\
worker_processes 1;
daemon off;
pid {dir}/nginx.pid;
error_log {dir}/error.log warn;
events {{ worker_connections 20000; }}
http {{
  access_log off;
  keepalive_requests 1000000000;
  open_file_cache max=16 inactive=60s;
  client_body_temp_path {dir}/body;
  proxy_temp_path {dir}/proxy;
  fastcgi_temp_path {dir}/fastcgi;
  uwsgi_temp_path {dir}/uwsgi;
  scgi_temp_path {dir}/scgi;
  server {{
    listen 127.0.0.1:{port} backlog=4096;
    location / {{ root {dir}/www; }}
  }}
}}
"""


@dataclass
class WrkResult:
    requests_per_s: float
    requests: int
    errors: dict[str, int]  # connect/read/write/timeout and non-2xx/3xx answers
    server_cpu_us: float = 0.0  # the server's CPU time (user + system) per request

    @property
    def error_total(self) -> int:
        return sum(self.errors.values())


def run_wrk(args: list[str]) -> WrkResult:
    done = subprocess.run(["wrk", *args], capture_output=True, text=True, check=True)
    out = done.stdout
    rate = re.search(r"Requests/sec:\s+([\d.]+)", out)
    count = re.search(r"(\d+) requests in", out)
    if rate is None or count is None:
        raise RuntimeError(f"cannot read wrk's output:\n{out}{done.stderr}")
    errors = {}
    sock = re.search(r"connect (\d+), read (\d+), write (\d+), timeout (\d+)", out)
    if sock:
        kinds = ("connect", "read", "write", "timeout")
        errors = dict(zip(kinds, map(int, sock.groups()), strict=True))
    non2xx = re.search(r"Non-2xx or 3xx responses: (\d+)", out)
    if non2xx:
        errors["non-2xx"] = int(non2xx.group(1))
    return WrkResult(float(rate.group(1)), int(count.group(1)), errors)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@contextmanager
def nginx() -> Iterator[tuple[str, int]]:
    """nginx with one worker serving a 1-byte file; yields the file's URL and the worker's pid."""
    with tempfile.TemporaryDirectory(prefix="bench-nginx-") as tmp:
        root = Path(tmp)
        os.chmod(root, 0o755)  # nginx's worker may run as another user
        (root / "www").mkdir(mode=0o755)
        (root / "www" / "one").write_bytes(b".")
        os.chmod(root / "www" / "one", 0o644)
        port = free_port()
        conf = root / "nginx.conf"
        conf.write_text(NGINX_CONF.format(dir=root, port=port))
        proc = subprocess.Popen(
            ["nginx", "-c", str(conf), "-p", str(root), "-e", str(root / "error.log")],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        url = f"http://127.0.0.1:{port}/one"
        try:
            wait_until_up(url, proc)
            children = Path(f"/proc/{proc.pid}/task/{proc.pid}/children").read_text().split()
            yield url, int(children[0])
        finally:
            proc.terminate()
            proc.wait(timeout=10)


def wait_until_up(url: str, proc: subprocess.Popen[bytes]) -> None:
    deadline = time.monotonic() + 10
    while True:
        try:
            with urllib.request.urlopen(url, timeout=1) as resp:
                if resp.read() == b".":
                    return
        except OSError:
            if proc.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError(f"{url} did not come up") from None
            time.sleep(0.05)


def raise_fd_limit(needed: int) -> int:
    """Raise this process's open-file limit (children inherit it); return the new soft limit."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    target = hard if hard != resource.RLIM_INFINITY else max(soft, needed)
    if soft < target:
        resource.setrlimit(resource.RLIMIT_NOFILE, (target, hard))
    return resource.getrlimit(resource.RLIMIT_NOFILE)[0]


def machine() -> dict[str, str]:
    def version(cmd: list[str]) -> str:
        done = subprocess.run(cmd, capture_output=True, text=True)
        return (done.stdout + done.stderr).strip().splitlines()[0]

    import httptools
    import uvloop

    return {
        "cpus (nproc)": str(os.cpu_count()),
        "cpu": cpu_model(),
        "python": platform.python_version(),
        "uvloop / httptools": f"{uvloop.__version__} / {httptools.__version__}",
        "wrk": version(["wrk", "--version"]).split(" [")[0],
        "nginx": version(["nginx", "-v"]),
        "kernel": platform.release(),
    }


def cpu_model() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown"


def throughput(duration: int, repeats: int) -> list[tuple[str, str, list[WrkResult]]]:
    """Interleaved wrk runs against the three targets; results per target."""
    with tempfile.TemporaryDirectory(prefix="bench-wrk-") as tmp:
        lua = Path(tmp) / "uncached.lua"
        lua.write_text(UNCACHED_LUA)
        with serve(mode="subprocess") as mock, nginx() as (static_url, nginx_pid):
            mock_pid = mock.stats()["pid"]
            common = ["-t1", "-c100", f"-d{duration}s"]
            targets = [
                ("mock /add (replay cache)", "wrk " + " ".join(common) + " URL/add"),
                (
                    "mock /add?name=x&delay=0&id=N (uncached)",
                    "wrk " + " ".join(common) + " -s uncached.lua URL/",
                ),
                ("nginx, 1 worker, 1-byte file", "wrk " + " ".join(common) + " URL/one"),
            ]
            argv = [
                [*common, mock.url + "/add"],
                [*common, "-s", str(lua), mock.url + "/"],
                [*common, static_url],
            ]
            pids = [mock_pid, mock_pid, nginx_pid]
            results: list[list[WrkResult]] = [[] for _ in targets]
            for _ in range(repeats):
                for i, args in enumerate(argv):
                    before = sum(cpu_seconds(pids[i]))
                    result = run_wrk(args)
                    used = sum(cpu_seconds(pids[i])) - before
                    result.server_cpu_us = used / max(result.requests, 1) * 1e6
                    results[i].append(result)
                    print(
                        f"  {targets[i][0]}: {result.requests_per_s:,.0f} req/s, "
                        f"server CPU {result.server_cpu_us:.2f} µs/request",
                        flush=True,
                    )
            served = mock.stats()["total"]
            expected = sum(r.requests for rs in results[:2] for r in rs)
            if served < expected:
                raise RuntimeError(f"the mock server counted {served} requests, wrk {expected}")
    return [(name, cmd, rs) for (name, cmd), rs in zip(targets, results, strict=True)]


def cpu_seconds(pid: int) -> tuple[float, float]:
    """(user, system) CPU seconds a process has used so far (Linux /proc)."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    tick = os.sysconf("SC_CLK_TCK")
    return int(fields[11]) / tick, int(fields[12]) / tick


def load_average() -> str:
    try:
        return " ".join(Path("/proc/loadavg").read_text().split()[:3])
    except OSError:
        return "?"


def ten_thousand(duration: int, delay_ms: int) -> tuple[WrkResult, dict[str, Any]]:
    """wrk with 10,000 connections against a fresh server; its stats and CPU use after."""
    with serve(mode="subprocess") as mock:
        mock.reset()
        pid = mock.stats()["pid"]
        load_before = load_average()
        user0, sys0 = cpu_seconds(pid)
        url = f"{mock.url}/add?delay={delay_ms}"
        result = run_wrk(["-t2", "-c10000", f"-d{duration}s", "--timeout", "5s", url])
        user1, sys1 = cpu_seconds(pid)
        stats = mock.stats()
    stats["cpu_user_s"] = user1 - user0
    stats["cpu_system_s"] = sys1 - sys0
    stats["load_average"] = f"{load_before} -> {load_average()}"
    return result, stats


def fmt(x: float) -> str:
    return f"{x:,.0f}"


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--duration", type=int, default=10, help="seconds per wrk run")
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--skip-10k", action="store_true", help="only the throughput runs")
    parser.add_argument("--only-10k", action="store_true", help="only the 10k-connection run")
    parser.add_argument(
        "--big-delay", type=int, default=100, metavar="MS", help="delay of the 10k test"
    )
    args = parser.parse_args()
    for tool in ("wrk", "nginx"):
        if shutil.which(tool) is None:
            print(
                f"bench_server: {tool} is not installed (apt-get install {tool})", file=sys.stderr
            )
            return 2
    limit = raise_fd_limit(21_000)

    info = machine()
    print("## Machine\n")
    for key, value in info.items():
        print(f"- {key}: {value}")
    print(f"- open-file limit: {limit}")
    print(f"- load average at start (1, 5, 15 min): {load_average()}\n")

    if not args.only_10k:
        print_throughput(args.duration, args.repeats)
    if not args.skip_10k:
        return print_ten_thousand(args.duration, args.big_delay, limit)
    return 0


def print_throughput(duration: int, repeats: int) -> None:
    print("Throughput runs (interleaved):", flush=True)
    rows = throughput(duration, repeats)
    nginx_median = statistics.median(r.requests_per_s for r in rows[2][2])
    print("\n## Zero delay, wrk -t1 -c100, one process each\n")
    nginx_cpu = statistics.median(r.server_cpu_us for r in rows[2][2])
    print(
        "| target | median req/s | runs | vs nginx | server CPU per request "
        "| req/s per CPU-second | vs nginx | errors |"
    )
    print("|---|---:|---|---:|---:|---:|---:|---:|")
    for name, _cmd, results in rows:
        rates = [r.requests_per_s for r in results]
        median = statistics.median(rates)
        runs = ", ".join(fmt(r) for r in rates)
        cpu_us = statistics.median(r.server_cpu_us for r in results)
        errors = sum(r.error_total for r in results)
        print(
            f"| {name} | {fmt(median)} | {runs} | {median / nginx_median:.2f}x "
            f"| {cpu_us:.2f} µs | {fmt(1e6 / cpu_us)} | {nginx_cpu / cpu_us:.2f}x | {errors} |"
        )
    print()
    for name, cmd, _ in rows:
        print(f"- {name}: `{cmd}`")


def print_ten_thousand(duration: int, delay_ms: int, limit: int) -> int:
    if limit < 10_500:
        print(f"\n(10k test skipped: the open-file limit is {limit})")
        return 0
    print(f"\n10,000 connections x {delay_ms} ms ...", flush=True)
    result, stats = ten_thousand(duration, delay_ms)
    delay_error = stats["delay_error_ms"]
    cpu = stats["cpu_user_s"] + stats["cpu_system_s"]
    print(f"\n## 10,000 connections, each request delayed {delay_ms} ms\n")
    cmd = f"wrk -t2 -c10000 -d{duration}s --timeout 5s URL/add?delay={delay_ms}"
    print(f"`{cmd}`\n")
    print(
        "| req/s | offered | wrk errors | delay error p50 | p99 | max "
        "| peak in flight | server CPU (user+sys) | per request |"
    )
    print("|---:|---:|---|---:|---:|---:|---:|---:|---:|")
    error_text = ", ".join(f"{k} {v}" for k, v in result.errors.items() if v) or "none"
    offered = 10_000 / (delay_ms / 1000)
    print(
        f"| {fmt(result.requests_per_s)} | {fmt(offered)} | {error_text} "
        f"| {delay_error['p50']:.2f} ms | {delay_error['p99']:.2f} ms "
        f"| {delay_error['max']:.1f} ms | {stats['peak_in_flight']} "
        f"| {stats['cpu_user_s']:.1f} + {stats['cpu_system_s']:.1f} s "
        f"| {cpu / max(stats['total'], 1) * 1e6:.1f} µs |"
    )
    print(f"\nload average (1, 5, 15 min) before -> after: {stats['load_average']}")
    keys = ("total", "peak_connections", "by_status", "delay_error_ms")
    print("server stats:", json.dumps({k: stats[k] for k in keys}))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
