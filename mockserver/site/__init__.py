"""The synthetic website: a seeded, multi-host site to crawl, with its own ground truth.

``python -m mockserver --site 10000`` serves, next to the usual endpoints, a website of
P pages spread over H virtual hosts (``--site-hosts``, default 3).  The hosts are the
loopback addresses ``127.0.0.1`` ... ``127.0.0.H`` on the server's one port: Linux routes
all of 127.0.0.0/8 to the loopback interface, so every HTTP client reaches them without
DNS tricks, and the server tells them apart by the ``Host`` header.  The root is
``http://127.0.0.1:PORT/``.

One module per job, in reading order:

* :mod:`~mockserver.site.graph` — the pages, their hosts, URLs and links: a pure
  function of the seed;
* :mod:`~mockserver.site.render` — their HTML, robots.txt, sitemaps and files;
* :mod:`~mockserver.site.truth` — what a correct crawl finds (``GET /__site``), and
  :func:`normalise`, the URL rules it assumes;
* :mod:`~mockserver.site.checks` — what crawlers fetched (``GET /__site?stats=1``);
* :mod:`~mockserver.site.handler` — :class:`Site`, the router that serves all of it.
"""

from mockserver.site.handler import Site
from mockserver.site.truth import normalise, remove_dot_segments

__all__ = ["Site", "normalise", "remove_dot_segments"]
