"""Where a step runs: a bubblewrap sandbox with container paths, or the host as it is.

Tekton steps see `/workspace/<name>`, `/tekton/results`, `/tekton/home` and read-only workspaces. `bwrap`
gives a local process that view without images or privileges: a tmpfs root, the host's `/usr`, `/etc`, the
Python prefixes (so the venv and `retrain` itself work) bound read-only, each `Mount` bound at its target,
a private PID namespace (so the whole step dies with its launcher) and the host network. Without a working
`bwrap`, host mode runs the step directly and says once what it cannot honour.

The bwrap sandbox is bwrap_sandbox.py, host mode host_sandbox.py, what they share (Mount, the Sandbox
protocol, the step's environment) sandbox_env.py; this module chooses one and says what it cannot honour.
"""

from __future__ import annotations

import functools
import logging
import shutil
from pathlib import Path
from typing import Literal

from retrain.engine.bwrap_identity import mapping_trial
from retrain.engine.bwrap_sandbox import BwrapSandbox
from retrain.engine.bwrap_trial import try_bwrap
from retrain.engine.host_sandbox import HostSandbox
from retrain.engine.sandbox_env import STANDARD_PATH, Mount, Sandbox, step_environment
from retrain.errors import InvalidInput

__all__ = ["STANDARD_PATH", "BwrapSandbox", "HostSandbox", "Mount", "Sandbox", "detect_sandbox"]
__all__ += ["sandbox_limitations", "step_environment", "user_mapping_problem"]

logger = logging.getLogger("retrain.engine")

_HOST_LIMITATIONS = (
    "absolute container paths (/workspace/..., /tekton/results, /tekton/home) do not exist: "
    "$(workspaces.<name>.path) and $(results.<name>.path) become real host paths instead, "
    "but a script that writes such a path literally will fail",
    "read-only workspaces are writable",
    "isolated workspaces (listed in a step's own workspaces) are visible to every step, and other steps' "
    "/tekton/run/<i> and /tekton/steps/<i> directories are writable",
    "a background process that leaves the step's process group and clears its environment "
    "can outlive the step",
    "securityContext runAsUser/runAsGroup, readOnlyRootFilesystem, capabilities.drop and "
    "allowPrivilegeEscalation: false: every step runs as the invoking user with its privileges",
)


@functools.cache
def _trial(base: tuple[str, ...]) -> str | None:
    """None when `bwrap ... true` works here, else why not. Cached: one trial per process."""
    return try_bwrap([*base, "--chdir", "/", "--", "true"])


_host_warning_given = False


def _warn_host_mode(reason: str) -> None:
    global _host_warning_given  # noqa: PLW0603 - "say it once per process" is process-wide by nature
    if _host_warning_given:
        return
    _host_warning_given = True
    items = "; ".join(f"({i}) {text}" for i, text in enumerate(_HOST_LIMITATIONS, 1))
    logger.warning(
        "steps run on the host without a sandbox (%s). Host mode cannot honour: %s. "
        "Install bubblewrap (Debian/Ubuntu: apt-get install bubblewrap) for container paths.",
        reason,
        items,
    )


def detect_sandbox(*, prefer: Literal["auto", "bwrap", "host"] = "auto", venv: Path | None = None) -> Sandbox:
    """The best sandbox this machine offers (`auto`), or the one asked for."""
    if prefer == "host":
        _warn_host_mode("host mode was requested")
        return HostSandbox(venv=venv)
    bwrap = shutil.which("bwrap")
    why = "bwrap is not installed" if bwrap is None else None
    sandbox = None
    if bwrap is not None:
        sandbox = BwrapSandbox(bwrap=bwrap, venv=venv)
        why = _trial(sandbox._base)
        if why is not None:
            why = f"bwrap cannot create a sandbox here: {why}"
    if why is None and sandbox is not None:
        return sandbox
    if prefer == "bwrap":
        raise InvalidInput(
            f"the bwrap sandbox was requested but {why}",
            hint="install bubblewrap and allow unprivileged user namespaces "
            "(sysctl kernel.unprivileged_userns_clone=1), or choose the host sandbox",
        )
    _warn_host_mode(str(why))
    return HostSandbox(venv=venv)


def user_mapping_problem(sandbox: Sandbox) -> str | None:
    """Why this sandbox cannot run a container as another uid/gid (None: it can). Host mode never can, and
    says so in its own warning; bwrap is tried once per process, only when a run asks for it."""
    if not isinstance(sandbox, BwrapSandbox):
        return None
    why = mapping_trial(sandbox._base[0])
    return None if why is None else f"bwrap cannot map a user id here (runAsUser/runAsGroup): {why}"


def sandbox_limitations(sandbox: Sandbox) -> list[str]:
    """What this sandbox cannot honour of a Tekton step, for humans; empty for bwrap."""
    return [] if sandbox.mode == "bwrap" else list(_HOST_LIMITATIONS)
