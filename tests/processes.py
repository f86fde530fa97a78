"""Running newsmon as real subprocesses: one-shot commands and the daemon."""

from __future__ import annotations

import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent


def newsmon(*args: str, check: bool = True, cwd: Path = REPO) -> subprocess.CompletedProcess[str]:
    """``newsmon ARGS`` to completion; with ``check``, a non-zero exit fails the test."""
    done = subprocess.run(
        [sys.executable, "-m", "monitor", *args], cwd=cwd, capture_output=True, text=True,
        timeout=180,
    )  # fmt: skip
    if check:
        assert done.returncode == 0, done.stdout + done.stderr
    return done


def start_daemon(config: Path | str, *extra: str) -> subprocess.Popen[str]:
    """``newsmon daemon`` in the background, stdout and stderr in one pipe."""
    return subprocess.Popen(
        [sys.executable, "-m", "monitor", "daemon", "--config", str(config), *extra],
        cwd=REPO, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
    )  # fmt: skip


def wait_until(predicate: Callable[[], bool], timeout: float = 60.0) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return True
        time.sleep(0.05)
    return False
