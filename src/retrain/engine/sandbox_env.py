"""What every sandbox shares: the Mount a step sees, the Sandbox protocol, and the step's environment.

The environment is a small fixed base (PATH, locale), RETRAIN_* from the host and the step's own; mount
helpers find the mount a path falls in, put command directories on PATH and make link directories.
"""

from __future__ import annotations

import os
import shutil
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Literal, Protocol

from retrain.errors import InvalidInput, NotFound

if TYPE_CHECKING:
    from retrain.engine.security_context import RunAs

STANDARD_PATH = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"
HOME_TARGET = "/tekton/home"


@dataclass(frozen=True)
class Mount:
    """A host directory (or file) shown to the step at `target`."""

    host: Path
    target: str
    read_only: bool = False
    on_path: bool = False
    """A directory of commands appended to PATH (busybox applets: applets.py), unless the step sets PATH."""
    links: tuple[str, ...] = ()
    """A directory of symlinks `<target>/<name> -> link_to`, made once in `host` (once per run store) by
    the first step that needs it, then bound read-only (bwrap) or put on PATH (host mode)."""
    link_to: str = ""
    fresh_when_absent: bool = False
    """While `host` does not exist, each container gets its own new empty directory here (bwrap: in the
    sandbox's tmpfs; host mode: `host` is created). /tekton/creds is one: Tekton gives every step its own
    in-memory emptyDir there (tekton-creds-init-home-<i>); `host` is bound once credentials are written."""


class Sandbox(Protocol):
    @property
    def mode(self) -> Literal["bwrap", "host"]: ...

    def visible_path(self, mount: Mount) -> str:
        """The path the step must be told for this mount."""
        ...

    def wrap(
        self,
        argv: Sequence[str],
        *,
        mounts: Sequence[Mount],
        working_dir: str,
        env: Mapping[str, str],
        run_as: RunAs | None = None,
    ) -> tuple[list[str], dict[str, str], str]:
        """(argv to exec on the host, the step's whole environment, host cwd). `run_as`: the container's
        user, group and privileges (security_context.py); host mode cannot apply them (warned per TaskRun)."""
        ...


def step_environment(
    step_env: Mapping[str, str], *, host_env: Mapping[str, str], bin_dir: str
) -> dict[str, str]:
    """The whole environment of a step: a small fixed base, RETRAIN_* from the host, then the step's own.

    Nothing else of the host leaks in (a pod does not see the node's environment either).
    """
    env = {"PATH": f"{bin_dir}:{STANDARD_PATH}", "LANG": "C.UTF-8"}
    if "LANG" not in step_env and "LC_ALL" not in step_env:
        env["LC_ALL"] = "C.UTF-8"
    if "TZ" in host_env:
        env["TZ"] = host_env["TZ"]
    env.update((k, v) for k, v in host_env.items() if k.startswith("RETRAIN_"))
    env.update(step_env)
    return env


def within(path: str, root: str) -> bool:
    return path == root or path.startswith(root.rstrip("/") + "/")


def deepest_mount(path: str, mounts: Sequence[Mount]) -> Mount | None:
    found = [m for m in mounts if within(path, m.target)]
    return max(found, key=lambda m: len(m.target)) if found else None


def with_home(env: dict[str, str], mounts: Sequence[Mount], sandbox: Sandbox) -> dict[str, str]:
    if "HOME" not in env:
        home = next((m for m in mounts if m.target == HOME_TARGET), None)
        if home is not None:
            env["HOME"] = sandbox.visible_path(home)
    return env


def with_path(
    env: dict[str, str], own: Mapping[str, str], mounts: Sequence[Mount], sandbox: Sandbox
) -> dict[str, str]:
    """Append the command directories among the mounts to PATH, after the host's (which win)."""
    extra = [sandbox.visible_path(m) for m in mounts if m.on_path]
    if extra and "PATH" not in own:
        env["PATH"] = ":".join([env["PATH"], *extra])
    return env


def check_mounts(mounts: Sequence[Mount]) -> None:
    for mount in mounts:
        if not mount.target.startswith("/"):
            raise InvalidInput(f"mount target {mount.target!r} is not an absolute path")
        if not mount.links and not mount.fresh_when_absent and not mount.host.exists():
            raise NotFound(
                f"the host path {mount.host} to show the step at {mount.target} does not exist",
                hint="create the run's directories before starting its steps",
            )


def make_links(mount: Mount) -> None:
    """The symlink directory on disk (made under a scratch name first: never used half-made)."""
    scratch = mount.host.with_name(f"{mount.host.name}.{os.getpid()}.tmp")
    scratch.mkdir(parents=True, exist_ok=True)
    for name in mount.links:
        if not (scratch / name).is_symlink():
            (scratch / name).symlink_to(mount.link_to)
    try:
        scratch.rename(mount.host)
    except OSError:  # made meanwhile by another step of the run: use that one
        shutil.rmtree(scratch, ignore_errors=True)
