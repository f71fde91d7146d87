"""Where a model came from: the git commit of its notebook and the versions of the libraries that built it."""

from __future__ import annotations

import platform
from pathlib import Path

# Distribution names whose versions decide whether a pickle loads and behaves the same elsewhere.
LIBRARIES = ("scikit-learn", "numpy", "pandas", "joblib", "scipy", "xgboost")


def git_commit(path: Path | None) -> str | None:
    """HEAD of the git work tree that holds `path`, or None (no path, not in a work tree, no git)."""
    if path is None:
        return None
    directory = path if path.is_dir() else path.parent
    if not directory.is_dir():
        return None
    import subprocess  # lazy, like importlib.metadata below: registering is rare, importing is not

    try:
        done = subprocess.run(
            ["git", "-C", str(directory), "rev-parse", "HEAD"],
            capture_output=True,
            text=True,
            timeout=10,
            check=False,
        )
    except (OSError, subprocess.SubprocessError):
        return None
    commit = done.stdout.strip()
    return commit if done.returncode == 0 and commit else None


def library_versions() -> dict[str, str]:
    """Python and the installed ML libraries, read from package metadata (nothing heavy is imported)."""
    import importlib.metadata

    versions = {"python": platform.python_version()}
    for name in LIBRARIES:
        try:
            versions[name] = importlib.metadata.version(name)
        except importlib.metadata.PackageNotFoundError:
            continue
    return versions
