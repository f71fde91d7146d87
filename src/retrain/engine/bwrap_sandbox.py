"""The bwrap sandbox: each step under `bwrap` with container paths, on a fixed command line built once.

A tmpfs root, the host's /usr, /etc and Python prefixes bound read-only, each Mount bound at its target, a
private PID namespace and a container's default capabilities for a root step.
"""

from __future__ import annotations

import os
import shutil
import sys
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Literal

from retrain.engine.bwrap_identity import identity_args
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
from retrain.tekton.security_support import DEFAULT_CAPABILITIES

if TYPE_CHECKING:
    from retrain.engine.security_context import RunAs


class BwrapSandbox:
    """Runs steps under `bwrap` with container paths."""

    mode: Literal["bwrap", "host"] = "bwrap"

    def __init__(self, *, bwrap: str, venv: Path | None = None, host_env: Mapping[str, str] | None = None):
        self._bin_dir = str(venv / "bin") if venv else str(Path(sys.executable).parent)
        self._host_env = host_env
        self._base = (bwrap, "--unshare-pid", "--die-with-parent", *_capabilities(), *_system_binds(venv))

    def visible_path(self, mount: Mount) -> str:
        return mount.target

    def wrap(
        self,
        argv: Sequence[str],
        *,
        mounts: Sequence[Mount],
        working_dir: str,
        env: Mapping[str, str],
        run_as: RunAs | None = None,
    ) -> tuple[list[str], dict[str, str], str]:
        check_mounts(mounts)
        cmd = list(self._base)
        # Parents before children, so that /workspace/source lands inside /workspace rather than under it.
        for mount in sorted(mounts, key=lambda m: m.target.rstrip("/").count("/")):
            if mount.fresh_when_absent and not mount.host.is_dir():
                cmd += ["--dir", mount.target]  # no mkdir on the host: about 0.5 ms per try on a slow disk
                continue
            if mount.links and not mount.host.is_dir():
                # Once on disk, then one bind per step: bwrap's --symlink per link cost about
                # 1 ms per step for busybox's 85 applets (bench/engine_overhead.py), a bind about 0.2 ms.
                make_links(mount)
            cmd += ["--ro-bind" if mount.read_only else "--bind", str(mount.host.absolute()), mount.target]
        working_dir = working_dir if working_dir.startswith("/") else f"/workspace/{working_dir}"
        holder = deepest_mount(working_dir, mounts)
        if holder is not None:
            # Tekton creates a missing workingDir; inside a mount that means inside the run's own directory.
            if not holder.read_only:
                relative = working_dir[len(holder.target) :].lstrip("/")
                (holder.host / relative).mkdir(parents=True, exist_ok=True)
        elif working_dir != "/" and not any(within(working_dir, p) for p in _SYSTEM_DIRS):
            cmd += ["--dir", working_dir]  # created in the sandbox's tmpfs, never on the host
        if run_as is not None:
            cmd += identity_args(run_as)
        cmd += ["--chdir", working_dir, "--", *argv]
        host_env = os.environ if self._host_env is None else self._host_env
        env_out = with_path(
            step_environment(env, host_env=host_env, bin_dir=self._bin_dir), env, mounts, self
        )
        return cmd, with_home(env_out, mounts, self), "/"


# What a container runtime grants a root container by default (Docker/containerd/CRI-O): no CAP_SYS_ADMIN, so
# a root step cannot remount a read-only workspace writable.
_CONTAINER_CAPS = DEFAULT_CAPABILITIES


def _capabilities() -> list[str]:
    if os.geteuid() != 0:
        return []  # unprivileged bwrap keeps no capabilities outside its own user namespace anyway
    args = ["--cap-drop", "ALL"]
    for cap in _CONTAINER_CAPS:
        args += ["--cap-add", f"CAP_{cap}"]
    return args


_SYSTEM_DIRS = ("/usr", "/etc", "/opt", "/bin", "/lib", "/lib64", "/sbin", "/proc", "/dev")


def _system_binds(venv: Path | None) -> list[str]:
    """The fixed part of every bwrap command line: the host's system, toolchains and POSIX shell."""
    # The fresh /proc, /dev and /tmp come first: a project or venv that lives under /tmp (a CI clone, say)
    # is bound after them, so the tmpfs does not hide it.
    args = ["--proc", "/proc", "--dev", "/dev", "--tmpfs", "/tmp"]
    args += ["--ro-bind", "/usr", "/usr", "--ro-bind", "/etc", "/etc"]
    if Path("/opt").is_dir():
        args += ["--ro-bind", "/opt", "/opt"]
    for top in ("/bin", "/sbin", "/lib", "/lib64", "/lib32", "/libx32"):
        if Path(top).is_symlink():  # merged /usr: keep the link, it points into the bound /usr
            args += ["--symlink", str(Path(top).readlink()), top]
        elif Path(top).is_dir():
            args += ["--ro-bind", top, top]
    bound = ["/usr", "/etc", "/opt", "/bin", "/sbin", "/lib", "/lib64"]
    for extra in _python_dirs(venv):
        if not any(within(extra, b) for b in bound):
            args += ["--ro-bind", extra, extra]
            bound.append(extra)
    resolv = Path("/etc/resolv.conf")
    if resolv.is_symlink():  # e.g. systemd-resolved's stub file under /run
        target = resolv.resolve().parent
        if target.is_dir() and not any(within(str(target), b) for b in bound):
            args += ["--ro-bind", str(target), str(target)]
    args += _posix_sh()
    return args


def _python_dirs(venv: Path | None) -> list[str]:
    """The venv, its base interpreter and every source directory its .pth files add (editable installs)."""
    prefix = str(venv.absolute()) if venv else sys.prefix
    dirs = [prefix, sys.base_prefix, os.path.realpath(sys.base_prefix)]
    cfg = Path(prefix, "pyvenv.cfg")
    if venv and cfg.is_file():  # another venv may sit on another interpreter: `home = <its bin dir>`
        for line in cfg.read_text(encoding="utf-8").splitlines():
            key, _, value = line.partition("=")
            if key.strip() == "home" and Path(value.strip()).is_dir():
                dirs.append(str(Path(value.strip()).resolve().parent))
    for site in Path(prefix).glob("lib/python*/site-packages"):
        for pth in sorted(site.glob("*.pth")):
            for line in pth.read_text(encoding="utf-8", errors="replace").splitlines():
                if line.startswith("/") and Path(line.strip()).is_dir():
                    dirs.append(line.strip())
    dirs.append(str(Path(__file__).resolve().parents[2]))  # the tree holding `retrain` itself
    unique = sorted(set(dirs), key=len)
    return [d for i, d in enumerate(unique) if not any(within(d, o) for o in unique[:i])]


def _posix_sh() -> list[str]:
    """Show a shell that accepts `[[ ]]` at /bin/sh: bash (POSIX mode when called as sh), else busybox."""
    real_sh = os.path.realpath("/bin/sh")
    if Path(real_sh).name == "bash":
        return []
    shell = shutil.which("bash") or shutil.which("busybox")
    if shell is None:
        return []
    # /bin/sh -> /usr/bin/sh -> dash: binding over the file the links end at works inside the ro /usr bind.
    return ["--ro-bind", os.path.realpath(shell), real_sh]
