"""One crawl on many processes and machines, sharing a frontier in Redis or Valkey.

A local crawl keeps its frontier in one process (memory, or SQLite with ``--db``).  A
shared crawl keeps it on a Redis ≥ 7 or Valkey server, so any number of workers —
processes on this machine, or on others, each with any engine — crawl it together:

* :mod:`concur.cluster.scripts` — the Lua scripts that change a crawl, atomically:
  seed it, lease URLs (with per-host politeness for the sum of all workers), hand in
  a page's record with its links, renew leases;
* :mod:`concur.cluster.frontier` — :class:`RedisFrontier`, the client side of those
  scripts, and :class:`FrontierSpec` (a server URL and a crawl name, as data);
* :mod:`concur.cluster.job` — :class:`ClusterJob`, one worker's share, run by any
  engine's driver like a local crawl;
* :mod:`concur.cluster.valkey` — an embedded Valkey server for one machine's crawls;
* :mod:`concur.cluster.launch` — start N workers on this machine and wait for them.

Its promises: every admitted URL ends with exactly one record, whoever dies; a
worker's leases go back to the queue when it stops answering; politeness holds across
workers; the crawl ends by itself when nothing is queued or leased.
"""
