"""Shared test setup.  The ``mockserver`` fixture comes from mockserver's pytest plugin."""
