"""Trying bwrap once: `bwrap <options> true` on this machine, and why it failed if it did.

sandbox.py tries the sandbox every step gets; bwrap_identity.py tries a uid/gid mapping. Each caches its
own answer (one trial per process).
"""

from __future__ import annotations

import subprocess
from collections.abc import Sequence

from retrain.engine.sandbox_env import STANDARD_PATH

TRIAL_TIMEOUT_S = 10.0


def try_bwrap(argv: Sequence[str]) -> str | None:
    """None when `argv` (a whole bwrap command line) exits 0 here, else why not."""
    try:
        done = subprocess.run(
            list(argv),
            capture_output=True,
            timeout=TRIAL_TIMEOUT_S,
            check=False,
            env={"PATH": STANDARD_PATH},
        )
    except (OSError, subprocess.TimeoutExpired) as exc:
        return str(exc)
    if done.returncode != 0:
        return done.stderr.decode(errors="replace").strip() or f"exit code {done.returncode}"
    return None
