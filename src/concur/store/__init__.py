"""Where crawl results and frontiers are kept: :mod:`concur.store.sqlite` (frontier + results)."""
