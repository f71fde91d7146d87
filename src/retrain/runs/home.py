"""Where retrain keeps its runs on this machine."""

from __future__ import annotations

import os
from collections.abc import Mapping
from pathlib import Path


def default_home(env: Mapping[str, str] = os.environ) -> Path:
    """`$RETRAIN_HOME`, else `$XDG_DATA_HOME/retrain`, else `~/.local/share/retrain`.

    Empty variables count as unset, and a relative `XDG_DATA_HOME` is ignored, as the XDG base directory
    specification asks. `~` is expanded against the given environment's HOME.
    """
    home_dir = env.get("HOME") or str(Path.home())
    explicit = env.get("RETRAIN_HOME")
    if explicit:
        return _expand(explicit, home_dir)
    xdg = env.get("XDG_DATA_HOME")
    if xdg and Path(xdg).is_absolute():
        return Path(xdg) / "retrain"
    return Path(home_dir) / ".local" / "share" / "retrain"


def _expand(path: str, home_dir: str) -> Path:
    if path == "~" or path.startswith("~/"):
        return Path(home_dir + path[1:])
    return Path(path)
