"""Names a package exports but imports only when first used (PEP 562).

``concur`` and ``concur.crawl`` offer their main names at the top (``concur.fetch``,
``concur.crawl.Scheduler``) without importing what stands behind them until asked: a
worker process, ``concur --help`` or a URL list pays nothing for the HTML and robots.txt
parsers a crawl needs.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable, Mapping
from typing import Any

__all__ = ["exports"]


def exports(
    package: dict[str, Any], where: Mapping[str, str]
) -> tuple[Callable[[str], Any], Callable[[], list[str]]]:
    """``__getattr__`` and ``__dir__`` for a package whose ``where`` maps name -> module."""

    def getattr_(name: str) -> Any:
        module = where.get(name)
        if module is None:
            raise AttributeError(f"module {package['__name__']!r} has no attribute {name!r}")
        value = getattr(importlib.import_module(module), name)
        package[name] = value  # found once: the next lookup is an ordinary one
        return value

    def dir_() -> list[str]:
        return sorted({*package, *where})

    return getattr_, dir_
