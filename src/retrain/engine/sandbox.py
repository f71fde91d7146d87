"""Where a step runs: a bubblewrap sandbox with container paths, or the host as it is.

Tekton steps see `/workspace/<name>`, `/tekton/results`, `/tekton/home` and read-only workspaces. `bwrap`
gives a local process that view without images or privileges: a tmpfs root, the host's `/usr`, `/etc`, the
Python prefixes (so the venv and `retrain` itself work) bound read-only, each `Mount` bound at its target,
a private PID namespace (so the whole step dies with its launcher) and the host network. Without a working
`bwrap`, host mode runs the step directly and says once what it cannot honour.
"""

from __future__ import annotations

import functools
import logging
import os
import shutil
import subprocess
import sys
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Literal, Protocol

from retrain.engine.bwrap_identity import identity_args, mapping_trial
from retrain.engine.scripts import read_shebang
from retrain.errors import InvalidInput, NotFound
from retrain.tekton.security_support import DEFAULT_CAPABILITIES

if TYPE_CHECKING:
    from retrain.engine.security_context import RunAs

__all__ = ["STANDARD_PATH", "BwrapSandbox", "HostSandbox", "Mount", "Sandbox", "detect_sandbox"]
__all__ += ["sandbox_limitations", "step_environment", "user_mapping_problem"]

logger = logging.getLogger("retrain.engine")

STANDARD_PATH = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"
HOME_TARGET = "/tekton/home"
_TRIAL_TIMEOUT_S = 10.0
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


def _within(path: str, root: str) -> bool:
    return path == root or path.startswith(root.rstrip("/") + "/")


def _deepest_mount(path: str, mounts: Sequence[Mount]) -> Mount | None:
    found = [m for m in mounts if _within(path, m.target)]
    return max(found, key=lambda m: len(m.target)) if found else None


def _with_home(env: dict[str, str], mounts: Sequence[Mount], sandbox: Sandbox) -> dict[str, str]:
    if "HOME" not in env:
        home = next((m for m in mounts if m.target == HOME_TARGET), None)
        if home is not None:
            env["HOME"] = sandbox.visible_path(home)
    return env


def _with_path(
    env: dict[str, str], own: Mapping[str, str], mounts: Sequence[Mount], sandbox: Sandbox
) -> dict[str, str]:
    """Append the command directories among the mounts to PATH, after the host's (which win)."""
    extra = [sandbox.visible_path(m) for m in mounts if m.on_path]
    if extra and "PATH" not in own:
        env["PATH"] = ":".join([env["PATH"], *extra])
    return env


def _check_mounts(mounts: Sequence[Mount]) -> None:
    for mount in mounts:
        if not mount.target.startswith("/"):
            raise InvalidInput(f"mount target {mount.target!r} is not an absolute path")
        if not mount.links and not mount.host.exists():
            raise NotFound(
                f"the host path {mount.host} to show the step at {mount.target} does not exist",
                hint="create the run's directories before starting its steps",
            )


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
        _check_mounts(mounts)
        cmd = list(self._base)
        # Parents before children, so that /workspace/source lands inside /workspace rather than under it.
        for mount in sorted(mounts, key=lambda m: m.target.rstrip("/").count("/")):
            if mount.links and not mount.host.is_dir():
                # Once on disk, then one bind per step: bwrap's --symlink per link cost about
                # 1 ms per step for busybox's 85 applets (bench/engine_overhead.py), a bind about 0.2 ms.
                _make_links(mount)
            cmd += ["--ro-bind" if mount.read_only else "--bind", str(mount.host.absolute()), mount.target]
        working_dir = working_dir if working_dir.startswith("/") else f"/workspace/{working_dir}"
        holder = _deepest_mount(working_dir, mounts)
        if holder is not None:
            # Tekton creates a missing workingDir; inside a mount that means inside the run's own directory.
            if not holder.read_only:
                relative = working_dir[len(holder.target) :].lstrip("/")
                (holder.host / relative).mkdir(parents=True, exist_ok=True)
        elif working_dir != "/" and not any(_within(working_dir, p) for p in _SYSTEM_DIRS):
            cmd += ["--dir", working_dir]  # created in the sandbox's tmpfs, never on the host
        if run_as is not None:
            cmd += identity_args(run_as)
        cmd += ["--chdir", working_dir, "--", *argv]
        host_env = os.environ if self._host_env is None else self._host_env
        env_out = _with_path(
            step_environment(env, host_env=host_env, bin_dir=self._bin_dir), env, mounts, self
        )
        return cmd, _with_home(env_out, mounts, self), "/"


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
                _make_links(mount)
        _check_mounts(mounts)
        cwd = self._host_dir(working_dir, mounts)
        host_env = os.environ if self._host_env is None else self._host_env
        env_out = _with_path(
            step_environment(env, host_env=host_env, bin_dir=self._bin_dir), env, mounts, self
        )
        return self._posix_shell(argv), _with_home(env_out, mounts, self), cwd

    def _host_dir(self, working_dir: str, mounts: Sequence[Mount]) -> str:
        # A container path under a mount (`workingDir: /workspace/source`) is the one we can translate.
        holder = _deepest_mount(working_dir, mounts)
        if holder is not None:
            path = holder.host.absolute() / working_dir[len(holder.target) :].lstrip("/")
        else:
            path = Path(working_dir)
            if not any(_within(working_dir, str(m.host.absolute())) for m in mounts):
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


def _make_links(mount: Mount) -> None:
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
        if not any(_within(extra, b) for b in bound):
            args += ["--ro-bind", extra, extra]
            bound.append(extra)
    resolv = Path("/etc/resolv.conf")
    if resolv.is_symlink():  # e.g. systemd-resolved's stub file under /run
        target = resolv.resolve().parent
        if target.is_dir() and not any(_within(str(target), b) for b in bound):
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
    return [d for i, d in enumerate(unique) if not any(_within(d, o) for o in unique[:i])]


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


@functools.cache
def _trial(base: tuple[str, ...]) -> str | None:
    """None when `bwrap ... true` works here, else why not. Cached: one trial per process."""
    try:
        done = subprocess.run(
            [*base, "--chdir", "/", "--", "true"],
            capture_output=True,
            timeout=_TRIAL_TIMEOUT_S,
            check=False,
            env={"PATH": STANDARD_PATH},
        )
    except (OSError, subprocess.TimeoutExpired) as exc:
        return str(exc)
    if done.returncode != 0:
        return done.stderr.decode(errors="replace").strip() or f"exit code {done.returncode}"
    return None


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
