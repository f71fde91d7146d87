"""Host mode: each step runs directly on the host; mounts are translated to host paths, never enforced."""

from __future__ import annotations

import os
import shutil
import sys
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Literal

from retrain.engine.sandbox_env import (
    Mount,
    check_mounts,
    deepest_mount,
    make_links,
    step_environment,
    with_home,
    with_path,
    within,
)
from retrain.engine.scripts import read_shebang
from retrain.errors import NotFound

if TYPE_CHECKING:
    from retrain.engine.security_context import RunAs


class HostSandbox:
    """Runs steps directly on the host; mounts are only translated, never enforced."""

    mode: Literal["bwrap", "host"] = "host"

    def __init__(self, *, venv: Path | None = None, host_env: Mapping[str, str] | None = None):
        self._bin_dir = str(venv / "bin") if venv else str(Path(sys.executable).parent)
        self._host_env = host_env
        self._bash = shutil.which("bash")

    def visible_path(self, mount: Mount) -> str:
        return str(mount.host.absolute())

    def wrap(
        self,
        argv: Sequence[str],
        *,
        mounts: Sequence[Mount],
        working_dir: str,
        env: Mapping[str, str],
        run_as: RunAs | None = None,
    ) -> tuple[list[str], dict[str, str], str]:
        del run_as  # the host cannot switch users: taskrun warns once per TaskRun, naming the fields
        for mount in mounts:
            if mount.links and not mount.host.is_dir():
                make_links(mount)
            if mount.fresh_when_absent:
                mount.host.mkdir(parents=True, exist_ok=True)  # shared by the steps here: a limitation
        check_mounts(mounts)
        cwd = self._host_dir(working_dir, mounts)
        host_env = os.environ if self._host_env is None else self._host_env
        env_out = with_path(
            step_environment(env, host_env=host_env, bin_dir=self._bin_dir), env, mounts, self
        )
        return self._posix_shell(argv), with_home(env_out, mounts, self), cwd

    def _host_dir(self, working_dir: str, mounts: Sequence[Mount]) -> str:
        # A container path under a mount (`workingDir: /workspace/source`) is the one we can translate.
        holder = deepest_mount(working_dir, mounts)
        if holder is not None:
            path = holder.host.absolute() / working_dir[len(holder.target) :].lstrip("/")
        else:
            path = Path(working_dir)
            if not any(within(working_dir, str(m.host.absolute())) for m in mounts):
                if not path.is_dir():
                    raise NotFound(
                        f"the step's working directory {working_dir} does not exist on this host",
                        hint="host mode has no container paths: mount a run directory at /workspace, "
                        "or install bubblewrap",
                    )
                return working_dir
        path.mkdir(parents=True, exist_ok=True)
        return str(path)

    def _posix_shell(self, argv: Sequence[str]) -> list[str]:
        # Debian's /bin/sh is dash, which rejects the `[[ ]]` that alpine/busybox scripts use; bash in POSIX
        # mode accepts them, so run every `sh` step and `#!/bin/sh` script with it.
        if not argv or self._bash is None:
            return list(argv)
        head = argv[0]
        if head in ("sh", "/bin/sh", "/usr/bin/sh"):
            return [self._bash, "--posix", *argv[1:]]
        shebang = read_shebang(Path(head)) if "/" in head else None
        if shebang and shebang[0] in ("/bin/sh", "/usr/bin/sh"):
            return [self._bash, "--posix", *shebang[1:], head, *argv[1:]]
        if shebang and shebang[0].endswith("/env") and shebang[1:] == ["sh"]:
            return [self._bash, "--posix", head, *argv[1:]]
        return list(argv)
