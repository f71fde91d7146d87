"""The bwrap options that give a sandboxed container its securityContext identity (engine/security_context.py
decides it): a user namespace mapping for another uid/gid, its capabilities, a read-only root.

A uid or gid other than ours is a user namespace that maps our uid (and gid) to it. bwrap maps only one of
each, so whatever the step writes is ours outside, and every later step and the engine can use it.
"""

from __future__ import annotations

import functools
import os
from typing import TYPE_CHECKING

from retrain.engine.bwrap_trial import try_bwrap
from retrain.tekton.security_support import DEFAULT_CAPABILITIES

if TYPE_CHECKING:
    from retrain.engine.security_context import RunAs

__all__ = ["identity_args", "mapping_trial"]


def identity_args(run_as: RunAs) -> list[str]:
    """bwrap options for a container's securityContext, after the fixed ones (bwrap_sandbox._capabilities).

    Only uid 0 keeps a container's default capabilities, minus capabilities.drop: a non-root container has
    no effective capability in Kubernetes either."""
    me, my_group = os.geteuid(), os.getegid()
    uid = me if run_as.uid is None else run_as.uid
    gid = my_group if run_as.gid is None else run_as.gid
    args: list[str] = []
    mapped = (uid, gid) != (me, my_group)
    if mapped:
        args += ["--unshare-user", "--uid", str(uid), "--gid", str(gid)]
    keep = (
        [] if uid != 0 or "ALL" in run_as.drop else [c for c in DEFAULT_CAPABILITIES if c not in run_as.drop]
    )
    if me == 0:  # the fixed options granted the default set: take away what this container must not have
        dropped = [c for c in DEFAULT_CAPABILITIES if c not in keep]
        args += (
            ["--cap-drop", "ALL"] if not keep else [a for c in dropped for a in ("--cap-drop", f"CAP_{c}")]
        )
    elif mapped and keep:  # root of its own user namespace: the default set, valid only inside it
        for cap in keep:
            args += ["--cap-add", f"CAP_{cap}"]
    if run_as.read_only_root:  # volumes, workspaces and /tekton/* stay writable mounts, as in a pod
        args += ["--remount-ro", "/", "--remount-ro", "/tmp"]
    return args


@functools.cache
def mapping_trial(bwrap: str) -> str | None:
    """None when bwrap can map a uid and gid here, else why not. Cached: one trial per process."""
    return try_bwrap(
        [bwrap, "--unshare-user", "--uid", "1", "--gid", "1", "--ro-bind", "/", "/", "--", "true"]
    )
