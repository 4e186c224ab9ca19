"""The ``concur`` subcommands, one module each (see :mod:`concur.cli`)."""
