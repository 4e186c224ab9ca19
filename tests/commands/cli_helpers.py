"""Run ``concur crawl`` as a user would: a fresh process, its output, its exit status."""

from __future__ import annotations

import resource
import subprocess
import sys


def concur(*args: str, limit_file_size: int | None = None) -> subprocess.CompletedProcess[str]:
    """``concur crawl --no-progress ARGS``; ``limit_file_size``: a disk that fills up
    (writes past that many bytes fail with EFBIG)."""

    def limit() -> None:
        assert limit_file_size is not None
        resource.setrlimit(resource.RLIMIT_FSIZE, (limit_file_size, limit_file_size))

    return subprocess.run(
        [sys.executable, "-m", "concur", "crawl", "--no-progress", *args],
        capture_output=True,
        text=True,
        timeout=120,
        stdin=subprocess.DEVNULL,
        preexec_fn=None if limit_file_size is None else limit,
    )
