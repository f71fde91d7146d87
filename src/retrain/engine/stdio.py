"""stdoutConfig / stderrConfig: a step's output also written to a file (a result path included).

The step's command runs under a small standalone copier (`_stdio_tee.py`, started with the base interpreter
in isolated mode, so it works inside the sandbox and on the host); only steps that ask for it pay for it.
The paths are the step's own (already substituted, e.g. `/tekton/results/digest`), opened from the step's
working directory, exactly where the step itself would write them.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Sequence
from pathlib import Path

from retrain.tekton.model import Step

__all__ = ["with_stdio"]

_TEE = Path(__file__).resolve().with_name("_stdio_tee.py")


def with_stdio(argv: Sequence[str], step: Step) -> list[str]:
    """`argv`, wrapped so that stdout/stderr also go to the step's configured paths (unchanged without)."""
    out = step.stdout_config.path if step.stdout_config else ""
    err = step.stderr_config.path if step.stderr_config else ""
    if not out and not err:
        return list(argv)
    return [os.path.realpath(sys.executable), "-I", "-S", str(_TEE), out, err, "--", *argv]
