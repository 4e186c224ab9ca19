"""A crawl's frontier in Redis or Valkey: shared by every worker on every machine.

:class:`RedisFrontier` is the client side of :mod:`concur.cluster.scripts`: it names a
crawl's keys, seeds a crawl, and makes the one call a worker repeats — hand in what it
finished, lease what it may fetch next — in one round trip.  It keeps no crawl state of
its own: everything lives on the server, so workers can join, leave or die at any time.

Connection trouble is the caller's to pace: the calls raise
:class:`FrontierUnavailable` (a one-line message) when the server cannot be reached or
refuses a write, and :class:`~concur.cluster.job.ClusterJob` retries with backoff.

    frontier = RedisFrontier("redis://localhost:6379/0", name="docs")
    frontier.seed(plan, config)           # once, from anywhere
    frontier.records()                    # every record so far, as FetchRecords
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any
from urllib.parse import parse_qsl, urlsplit

from concur.cluster import scripts
from concur.errors import FrontierUnavailable
from concur.records import CrawlConfig, ErrorKind, FetchRecord, PageRecord

if TYPE_CHECKING:
    import redis

    from concur.crawl.plan import CrawlPlan
    from concur.store.sqlite import SavedCrawl

__all__ = [
    "FrontierSpec",
    "FrontierUnavailable",
    "RedisFrontier",
    "crawls",
    "record_from",
    "record_json",
    "redact",
    "require_client",
]

LEASE_S = 30.0  # a worker that is not heard from for this long loses what it leased
MAX_LOSSES = 3  # leases of one URL that may expire before it is given up, with a record
SEED_CHUNK = 5_000  # seeds per call of the seed script


@dataclass(frozen=True, slots=True)
class FrontierSpec:
    """Where a shared crawl lives: a server URL and the crawl's name on it (plain data)."""

    url: str  # redis://[:password@]host:port/db, rediss://..., unix:///path/to.sock
    name: str = "crawl"
    lease: float = LEASE_S  # seconds a lease lasts unless the worker renews it

    def __post_init__(self) -> None:
        if not self.name or any(c in self.name for c in "{}:\x1f "):
            raise ValueError(f"crawl name {self.name!r}: use letters, digits, - and _")
        if self.lease <= 0:
            raise ValueError("lease must be > 0 seconds")

    def to_dict(self) -> dict[str, Any]:
        return {"url": self.url, "name": self.name, "lease": self.lease}

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> FrontierSpec:
        return cls(d["url"], d.get("name", "crawl"), d.get("lease", LEASE_S))


def record_json(record: FetchRecord) -> str:
    """A record as the frontier keeps it: a compact JSON array (see :func:`record_from`)."""
    error = None if record.error is None else str(record.error)
    fields: list[Any] = [
        record.index,
        record.url,
        record.status,
        record.nbytes,
        error,
        record.attempts,
        round(record.start, 6),
        round(record.end, 6),
        record.detail,
        record.final_url,
    ]
    if isinstance(record, PageRecord):
        fields += (record.depth, record.referrer, record.content_type, record.links, record.title)
    return json.dumps(fields, separators=(",", ":"))


def record_from(raw: bytes | str) -> FetchRecord:
    """The record a kept JSON array stands for (``raw`` from :func:`record_json` or Lua):
    a :class:`PageRecord` when it has a page's fields."""
    fields = json.loads(raw)
    error = fields[4]
    fields[4] = None if error is None else ErrorKind(error)
    if len(fields) > 10:
        return PageRecord(*fields)
    return FetchRecord(*fields)


class RedisFrontier:
    """One named crawl on a Redis/Valkey server (see :mod:`concur.cluster.scripts`)."""

    def __init__(self, spec: FrontierSpec) -> None:
        require_client()
        import redis

        self.spec = spec
        self.prefix = f"concur:{{{spec.name}}}:"
        self._errors = (redis.ConnectionError, redis.TimeoutError, redis.BusyLoadingError)
        self._response_error = redis.ResponseError
        self._refused = (redis.exceptions.AuthenticationError, redis.exceptions.AuthorizationError)
        try:
            self.client: redis.Redis = redis.Redis.from_url(
                spec.url, socket_timeout=10, socket_connect_timeout=5, retry_on_timeout=False
            )
        except ValueError as exc:
            raise FrontierUnavailable(f"frontier URL {spec.url!r}: {exc}") from None
        self._no_script = redis.exceptions.NoScriptError
        self._sources = {
            name: (hashlib.sha1(source.encode()).hexdigest(), source)
            for name, source in (
                ("seed", scripts.SEED),
                ("lease", scripts.LEASE),
                ("complete", scripts.COMPLETE),
                ("renew", scripts.RENEW),
                ("release", scripts.RELEASE),
            )
        }

    def key(self, name: str) -> str:
        return self.prefix + name

    def run(self, *calls: tuple[str, Sequence[Any]]) -> list[Any]:
        """Run scripts by name with their arguments, in one round trip; their answers.

        By hash (``EVALSHA``), loading them the first time a server does not know them
        (a new server, or one that restarted): redis-py's ``Script`` objects would ask
        ``SCRIPT EXISTS`` before every pipeline, a second round trip each time.
        """
        for tries in (1, 2):
            pipe = self.client.pipeline(transaction=False)
            for name, args in calls:
                pipe.evalsha(self._sources[name][0], 0, *args)
            try:
                return self.call(pipe.execute)
            except self._no_script:
                if tries == 2:
                    raise
                for _, source in self._sources.values():
                    self.call(self.client.script_load, source)
        raise AssertionError("unreachable")

    def call(self, fn: Any, *args: Any, **kwargs: Any) -> Any:
        """``fn(*args)``, its server errors turned into :class:`FrontierUnavailable`."""
        try:
            return fn(*args, **kwargs)
        except self._refused as exc:  # a wrong password: waiting will not change it
            why = f"frontier {self.where()} refused: {_one_line(exc)}"
            raise FrontierUnavailable(why, transient=False) from None
        except self._errors as exc:
            raise FrontierUnavailable(f"frontier {self.where()}: {_one_line(exc)}") from None
        except self._no_script:
            raise
        except self._response_error as exc:  # OOM, READONLY, a script's error...
            why = f"frontier {self.where()} refused: {_one_line(exc)}"
            raise FrontierUnavailable(why, transient=False) from None

    def where(self) -> str:
        """The server and the crawl's name, the password hidden (:func:`redact`)."""
        return f"{redact(self.spec.url)} (crawl {self.spec.name!r})"

    # -- a crawl's life ----------------------------------------------------------------

    def seed(
        self,
        plan: CrawlPlan,
        config: CrawlConfig,
        *,
        resume: bool = False,
        extra: dict[str, Any] | None = None,
    ) -> int:
        """Create the crawl with ``plan``'s seeds (``resume``: continue the one there).

        ``extra`` is kept with the plan (``concur crawl --site`` keeps its site's settings).
        Returns how many seeds were admitted.  Raises ``FileExistsError`` if a crawl of
        this name exists and ``resume`` is false, ``LookupError`` if ``resume`` and none.
        """
        from concur.crawl.urls import host_key, normalize

        options = plan.options
        head: list[Any] = [
            self.prefix,
            "1" if resume else "0",
            options.per_host,
            options.delay,
            "1" if options.obey_robots else "0",
            -1 if options.max_pages is None else options.max_pages,
            json.dumps(plan.to_dict()),
            json.dumps(config.to_dict()),
            json.dumps(extra or {}),
        ]
        pairs: list[str] = []
        for seed in plan.seeds:
            url = normalize(seed, sort_query=options.sort_query)
            if url is None or scripts.SEP in url:
                pairs += [seed, ""]
            else:
                pairs += [url, host_key(url)]
        added = 0
        for start in range(0, max(len(pairs), 1), SEED_CHUNK * 2):  # -i with a million URLs
            (answer,) = self.run(("seed", [*head, *pairs[start : start + SEED_CHUNK * 2]]))
            if answer == b"exists":
                raise FileExistsError(
                    f"{self.where()} exists already: --resume continues it, --name starts another"
                )
            if answer == b"missing":
                raise LookupError(f"{self.where()}: no such crawl to resume")
            added += int(answer)
            head[1] = "2"  # more seeds for the crawl just created (or resumed)
        return added

    def plan(self) -> tuple[CrawlPlan, CrawlConfig]:
        """The plan and config the crawl was seeded with (``LookupError``: no such crawl)."""
        from concur.crawl.plan import CrawlPlan

        plan, config = self.call(self.client.hmget, self.key("meta"), "plan", "config")
        if plan is None:
            raise LookupError(f"{self.where()}: no such crawl (seed it with concur crawl)")
        return CrawlPlan.from_dict(json.loads(plan)), CrawlConfig.from_dict(json.loads(config))

    def saved(self) -> SavedCrawl | None:
        """What the crawl was seeded with, as a crawl file keeps it (None: no such crawl)."""
        from concur.crawl.plan import CrawlPlan
        from concur.store.sqlite import SavedCrawl

        got = self.call(self.client.hmget, self.key("meta"), "plan", "config", "extra")
        if got[0] is None:
            return None
        plan = CrawlPlan.from_dict(json.loads(got[0]))
        config = CrawlConfig.from_dict(json.loads(got[1]))
        return SavedCrawl(plan, config, json.loads(got[2] or "{}"))

    def exchange(
        self, worker: str, finished: Sequence[Sequence[Any]], want: int
    ) -> tuple[list[Any], int]:
        """Hand in ``finished`` (completions, :mod:`~concur.cluster.scripts`' format) and
        lease up to ``want`` jobs: one round trip.

        Returns the lease script's answer (``[b'jobs', now, host, entry, ...]``,
        ``[b'wait', seconds]``, ``[b'done']`` or ``[b'missing']``) and the number of
        completions that came too late (their lease had expired and gone back).
        """
        calls: list[tuple[str, Sequence[Any]]] = []
        if finished:
            flat = [self.prefix, worker]
            for completion in finished:
                flat += completion
            calls.append(("complete", flat))
        calls.append(("lease", [self.prefix, worker, want, self.spec.lease, MAX_LOSSES]))
        replies = self.run(*calls)
        stale = int(replies[0]) if finished else 0
        return replies[-1], stale

    def renew(self, worker: str, leases: Sequence[str]) -> int:
        """Push back the deadlines of the leases ``worker`` holds; how many it still held."""
        if not leases:
            return 0
        (kept,) = self.run(("renew", [self.prefix, worker, self.spec.lease, *leases]))
        return int(kept)

    def release(self, worker: str, leases: Sequence[str]) -> int:
        """Give back leases ``worker`` holds unfinished (it is stopping); how many it held."""
        if not leases:
            return 0
        (given,) = self.run(("release", [self.prefix, worker, *leases]))
        return int(given)

    def robots(self, host: str) -> str | None:
        """The robots.txt verdict of ``host`` kept by the worker that fetched it (JSON)."""
        raw = self.call(self.client.hget, self.key("robots"), host)
        return None if raw is None else raw.decode()

    def leave(self, worker: str) -> None:
        """``worker`` is done: it no longer counts among the workers alive."""
        self.call(self.client.hdel, self.key("workers"), worker)

    # -- reading it --------------------------------------------------------------------

    def exists(self) -> bool:
        return bool(self.call(self.client.exists, self.key("meta")))

    def records(self, batch: int = 10_000) -> Iterator[FetchRecord]:
        """Every record of the crawl so far, in the order they were made."""
        key = self.key("records")
        start = 0
        while True:
            chunk = self.call(self.client.lrange, key, start, start + batch - 1)
            for raw in chunk:
                yield record_from(raw)
            if len(chunk) < batch:
                return
            start += batch

    def counters(self) -> dict[str, int]:
        """A few counters, cheaply (a live display reads them twice a second)."""
        pipe = self.client.pipeline(transaction=False)
        pipe.hmget(self.key("meta"), "records", "admitted", "errors")
        pipe.zcard(self.key("leases"))
        pipe.hlen(self.key("workers"))
        (records, admitted, errors), leased, workers = self.call(pipe.execute)
        return {
            "records": int(records or 0),
            "admitted": int(admitted or 0),
            "errors": int(errors or 0),
            "leased": int(leased),
            "workers": int(workers),
        }

    def status(self) -> dict[str, Any]:
        """The crawl as a whole: counters, queue, leases, hosts, workers alive, pages/s."""
        client = self.client
        meta = {
            k.decode(): v.decode() for k, v in self.call(client.hgetall, self.key("meta")).items()
        }
        if not meta:
            raise LookupError(f"{self.where()}: no such crawl")
        server_now = _server_time(self.call(client.time))
        t0 = float(meta.get("t0", server_now))
        end = float(meta.get("done_at", server_now)) if meta.get("state") == "done" else server_now
        seen = self.call(client.hgetall, self.key("workers"))
        alive = sorted(
            w.decode()
            for w, t in seen.items()
            if server_now - float(t) < max(10.0, self.spec.lease)
        )
        pipe = client.pipeline(transaction=False)
        pipe.zcard(self.key("leases"))
        pipe.zcard(self.key("delayed"))
        pipe.llen(self.key("records"))
        pipe.zcard(self.key("ready"))
        counts = self.call(pipe.execute)
        hosts = sorted(h.decode() for h in self.call(client.smembers, self.key("hosts")))
        per_host: dict[str, int] = {}
        for i in range(0, len(hosts), 1000):  # one round trip per thousand hosts
            chunk = hosts[i : i + 1000]
            pipe = client.pipeline(transaction=False)
            for host in chunk:
                pipe.llen(self.key("q:" + host))
            per_host.update(zip(chunk, self.call(pipe.execute), strict=True))
        records = counts[2]
        elapsed = max(end - t0, 1e-9)
        ints = (
            "admitted",
            "open",
            "records",
            "errors",
            "retries",
            "expired",
            "released",
            "disallowed",
            "robots_fetches",
            "redirects",
            "blocked",
            "hosts",
        )
        return {
            "name": self.spec.name,
            "server": self.where(),
            "state": meta.get("state"),
            **{k: int(meta.get(k, 0)) for k in ints},
            "queued": sum(per_host.values()),
            "leased": counts[0],
            "waiting_retry": counts[1],
            "hosts_ready": counts[3],
            "queued_per_host": per_host,
            "workers_alive": alive,
            "elapsed_s": round(elapsed, 3),
            "records_per_s": round(records / elapsed, 1),
            "memory_bytes": int(self.call(client.info, "memory").get("used_memory", 0)),
        }

    def delete(self) -> int:
        """Remove the crawl from the server: every key of it.  How many keys went."""
        keys = self.call(lambda: list(self.client.scan_iter(match=self.prefix + "*", count=1000)))
        for i in range(0, len(keys), 500):
            self.call(self.client.delete, *keys[i : i + 500])
        self.call(self.client.srem, "concur:crawls", self.prefix)
        return len(keys)

    def close(self) -> None:
        self.client.close()


def redact(url: str) -> str:
    """``url`` with its password as ``***`` (in the address or a ``password=`` query):
    said on a terminal, or kept in a log, it must not give the server away."""
    parts = urlsplit(url)
    netloc = parts.netloc
    if parts.password is not None:
        user, _, host = netloc.rpartition("@")
        name = user.partition(":")[0]
        netloc = f"{name}:***@{host}"
    query = "&".join(
        f"{k}=***" if k == "password" else f"{k}={v}" for k, v in parse_qsl(parts.query)
    )
    return f"{parts.scheme}://{netloc}{parts.path}" + (f"?{query}" if query else "")


def require_client() -> None:
    """Raise :class:`~concur.errors.EngineUnavailable`, with the pip line, without redis-py."""
    try:
        import redis  # noqa: F401
    except ImportError as exc:
        from concur.errors import EngineUnavailable

        raise EngineUnavailable(
            "a shared crawl needs the Redis client: pip install 'concur[cluster]'"
        ) from exc


def crawls(url: str) -> list[str]:
    """The names of the crawls a server holds."""
    frontier = RedisFrontier(FrontierSpec(url))
    try:
        names = frontier.call(frontier.client.smembers, "concur:crawls")
    finally:
        frontier.close()
    return sorted(n.decode()[len("concur:{") : -2] for n in names)


def _server_time(t: tuple[int, int]) -> float:
    return t[0] + t[1] / 1e6


def _one_line(exc: BaseException) -> str:
    """The server's words: redis-py's pipeline preamble (the command and its arguments,
    which may be long) cut off."""
    text = " ".join(str(exc).split()) or type(exc).__name__
    text = text.split(" of pipeline caused error: ", 1)[-1]
    return text[:300]
