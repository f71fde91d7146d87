"""A step's `script:` turned into an executable file, the way Tekton does it.

Tekton writes each script into the pod's `/tekton/scripts` volume as `script-<step index>-<5 random
characters>`, prepends `#!/bin/sh\\nset -e\\n` when the script (leading blank space ignored) has no shebang,
makes it executable and runs it as the step's command with the step's `args` as `$1...`
(tektoncd/pipeline pkg/pod/script.go). This module does the same into a host directory that the sandbox
shows the step at `/tekton/scripts` (or at its real path in host mode: pass `visible_dir`).
"""

from __future__ import annotations

import os
import secrets
from pathlib import Path

from retrain.errors import InvalidInput, Location

__all__ = ["DEFAULT_PREAMBLE", "SCRIPTS_TARGET", "materialize_script", "read_shebang", "script_text"]

DEFAULT_PREAMBLE = "#!/bin/sh\nset -e\n"
SCRIPTS_TARGET = "/tekton/scripts"
"""Where a step sees its scripts in a container (and in the bwrap sandbox)."""

# Kubernetes' name generator alphabet (k8s.io/apimachinery utilrand): no vowels, no confusable digits.
_SUFFIX_ALPHABET = "bcdfghjklmnpqrstvwxz2456789"
_SHEBANG_READ_LIMIT = 256


def script_text(script: str, *, step_name: str = "") -> str:
    """The file content Tekton would run for `script` (pure)."""
    stripped = script.lstrip()
    where = Location(field=f"steps[{step_name}].script") if step_name else None
    if not stripped.strip():
        raise InvalidInput(
            f'step "{step_name}" has an empty script',
            location=where,
            hint="write at least one command, or use `command`/`args` instead of `script`",
        )
    if stripped.startswith("#!win"):
        raise InvalidInput(
            f'step "{step_name}" has a Windows script ("#!win"), which cannot run on this machine',
            location=where,
            hint="run this pipeline on a cluster with Windows nodes, or write the script for a Linux shell",
        )
    if stripped.startswith("#!"):
        # Tekton keeps leading blank lines, which makes the kernel refuse the file (ENOEXEC); a shebang
        # must be the first bytes, so drop them: the script then runs as its author obviously meant.
        return stripped
    return DEFAULT_PREAMBLE + script


def materialize_script(
    script: str,
    scripts_dir: Path,
    step_index: int,
    step_name: str,
    *,
    visible_dir: str = SCRIPTS_TARGET,
) -> tuple[Path, list[str]]:
    """Write the step's script into `scripts_dir` (created if missing) as an executable file.

    Returns the host path and the argv prefix that runs it as the step sees it
    (`[visible_dir + "/script-<index>-<suffix>"]`); the caller appends the step's args.
    """
    text = script_text(script, step_name=step_name)
    scripts_dir.mkdir(parents=True, exist_ok=True)
    while True:
        suffix = "".join(secrets.choice(_SUFFIX_ALPHABET) for _ in range(5))
        name = f"script-{step_index}-{suffix}"
        path = scripts_dir / name
        try:
            # O_EXCL: two steps (or two runs sharing a directory) never overwrite each other's script.
            fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o755)
        except FileExistsError:
            continue
        break
    with os.fdopen(fd, "w", encoding="utf-8") as handle:
        handle.write(text)
    path.chmod(0o755)  # the umask may have narrowed the mode given to os.open
    return path, [f"{visible_dir.rstrip('/')}/{name}"]


def read_shebang(path: Path) -> list[str] | None:
    """The interpreter line of an executable file as the kernel splits it: `[interpreter]` or
    `[interpreter, "the rest as one argument"]`; None when the file has no shebang or cannot be read."""
    try:
        with path.open("rb") as handle:
            head = handle.read(_SHEBANG_READ_LIMIT)
    except OSError:
        return None
    if not head.startswith(b"#!"):
        return None
    line = head[2:].split(b"\n", 1)[0].decode("utf-8", errors="replace").strip()
    if not line:
        return None
    return line.split(None, 1)  # like the kernel: split once on blank space
