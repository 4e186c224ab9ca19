"""The event loop a server runs in: uvloop's when installed, else asyncio's.

One small function, shared by the command line (``mockserver.cli``) and by
:func:`mockserver.testing.serve`, so that a test's server runs on the same loop as
``python -m mockserver`` without importing the command-line module.
"""

from __future__ import annotations

import asyncio


def new_event_loop() -> asyncio.AbstractEventLoop:
    """uvloop's loop when installed (several times faster here), else asyncio's."""
    try:
        import uvloop
    except ImportError:
        return asyncio.new_event_loop()
    return uvloop.new_event_loop()
