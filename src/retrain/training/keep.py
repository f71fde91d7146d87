"""What outlives a training's scratch directory besides the registered version: the executed notebook of a
failed run (the first thing to open when a cell failed), and copies for `--log-dir`.

A successful run's executed notebook is stored with its version in the registry (`executed.ipynb`). A
failed run has no version to store it with, so it is kept under `<staging>/failed/`, the newest
`KEEP_FAILED` per model (older ones are deleted as new ones come), or in `--log-dir` when one is given.
"""

from __future__ import annotations

import os
import re
import shutil
import time
from pathlib import Path

from retrain.training.notebooks import NotebookResult

FAILED = "failed"
KEEP_FAILED = 5
_SUFFIX = ".executed.ipynb"


def _kernel_log(executed: Path) -> Path:
    return executed.with_name(executed.name + ".kernel.log")


def _copy_pair(executed: Path, target: Path) -> Path:
    """Copy the executed notebook (and its kernel log, when there is one) to `target`."""
    target.parent.mkdir(parents=True, exist_ok=True)
    shutil.copyfile(executed, target)
    if _kernel_log(executed).is_file():
        shutil.copyfile(_kernel_log(executed), _kernel_log(target))
    return target


def keep_logs(result: NotebookResult, model: str, log_dir: Path | None) -> Path | None:
    """With `--log-dir`: copy the executed notebook and kernel log there; return the kernel log's copy."""
    if log_dir is None:
        return None
    target = _copy_pair(result.executed, log_dir / f"{model}{_SUFFIX}")
    return _kernel_log(target)


def keep_failed(executed: Path, model: str, *, log_dir: Path | None, parent: Path) -> Path | None:
    """Keep a failed run's executed notebook; return where (None when the kernel never wrote one)."""
    if not executed.is_file():
        return None
    if log_dir is not None:
        return _copy_pair(executed, log_dir / f"{model}{_SUFFIX}")
    failed = parent / FAILED
    stamp = time.strftime("%Y%m%dT%H%M%SZ", time.gmtime())
    kept = _copy_pair(executed, failed / f"{model}-{stamp}-{os.getpid()}{_SUFFIX}")
    _prune(failed, model)
    return kept


def _prune(failed: Path, model: str) -> None:
    # Exactly this model's names (not those of a model called "<model>-1"); the UTC stamp sorts by time.
    name = re.compile(rf"^{re.escape(model)}-\d{{8}}T\d{{6}}Z-\d+{re.escape(_SUFFIX)}$")
    mine = sorted(p for p in failed.iterdir() if name.match(p.name))
    for old in mine[:-KEEP_FAILED]:
        old.unlink(missing_ok=True)
        _kernel_log(old).unlink(missing_ok=True)
