"""Shell completion: `retrain --install-completion` exists, and the completion it installs completes."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

RETRAIN = [str(Path(sys.executable).with_name("retrain"))]  # completion keys on the script name


def complete(words: str) -> list[str]:
    """What bash completion offers for `words` (the script `--install-completion` installs calls this)."""
    env = {**os.environ, "_RETRAIN_COMPLETE": "complete_bash"}
    env |= {"COMP_WORDS": words, "COMP_CWORD": str(len(words.split()) - 1)}
    out = subprocess.run([*RETRAIN], env=env, capture_output=True, text=True, timeout=60, check=False)
    return out.stdout.split()


def test_help_offers_completion_installation() -> None:
    out = subprocess.run([*RETRAIN, "--help"], capture_output=True, text=True, timeout=60, check=True).stdout
    assert "--install-completion" in out and "--show-completion" in out


def test_commands_and_subcommands_complete() -> None:
    assert complete("retrain tri") == ["trigger"]
    assert complete("retrain runs sh") == ["show"]
