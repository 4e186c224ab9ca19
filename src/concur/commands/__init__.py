"""The ``concur`` subcommands, one module each (see :mod:`concur.cli`), and what they share.

Command modules: ``crawl`` (with ``follow`` for crawl mode), ``serve``, ``bench``,
``plot``, ``gil``, ``engines``.  Shared: :mod:`concur.args` (argument types: numbers,
durations with units, headers, URL lists), :mod:`.crawl_args` (``concur crawl``'s flags
and the frozen value they become) and :mod:`.output` (records as JSON Lines).
"""
