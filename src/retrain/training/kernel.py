"""The Jupyter kernel a notebook runs in: this very interpreter, with the notebook contract's environment.

No kernelspec is looked up on the Jupyter path (a user's `python3` kernelspec may point at another Python)
and none is installed (a read-only virtual environment in a pipeline step could not take one): the kernel
manager is given a spec manager with no directories, so only ipykernel's built-in spec remains, and that
one launches `sys.executable -m ipykernel_launcher`. A fresh virtual environment works with no manual step.

The kernel process gets the caller's environment plus the contract's variables (the caller's own
`os.environ` is never changed), runs in the given working directory, and writes its stdout/stderr to a log
file next to the executed notebook. Its connection file lives in the caller's private directory. The kernel
exits by itself when its parent dies (ipykernel polls `JPY_PARENT_PID`, which jupyter_client sets), so a
`retrain train` killed with SIGKILL leaves no kernel running either.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from pathlib import Path
from typing import IO, Any

KERNEL_NAME = "python3"  # ipykernel's built-in spec: the current interpreter


def kernel_manager_class(
    env: Mapping[str, str],
    log: IO[bytes],
    cwd: Path | None,
    connection_file: Path,
    *,
    pids: list[int] | None = None,
) -> type[Any]:
    """A KernelManager class (nbclient instantiates it) bound to this run's environment, log, working
    directory and connection file (the caller owns its directory and removes it afterwards). The started
    kernel's process id is appended to `pids`, so the caller can stop it when it is interrupted."""
    from jupyter_client.kernelspec import KernelSpecManager
    from jupyter_client.manager import AsyncKernelManager
    from traitlets import default

    extra = dict(env)

    class ThisInterpreterKernelManager(AsyncKernelManager):
        @default("kernel_spec_manager")
        def _no_kernelspec_dirs(self) -> KernelSpecManager:
            return KernelSpecManager(kernel_dirs=[], parent=self)

        async def start_kernel(self, **kw: Any) -> None:  # type: ignore[override]
            self.connection_file = str(connection_file)
            kw["env"] = {
                **os.environ,
                # ipykernel's debugger (debugpy) complains about frozen modules on stderr; nobody debugs here.
                "PYDEVD_DISABLE_FILE_VALIDATION": "1",
                **extra,
            }
            kw["stdout"] = log
            kw["stderr"] = log
            if cwd is not None:
                kw["cwd"] = str(cwd)
            await super().start_kernel(**kw)
            pid = getattr(self.provisioner, "pid", None)  # LocalProvisioner: the kernel process
            if pids is not None and isinstance(pid, int):
                pids.append(pid)

    return ThisInterpreterKernelManager
