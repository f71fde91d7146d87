"""Test plumbing: a started stand-in with a kubeconfig, and the cluster commands as a Typer app."""

from __future__ import annotations

import contextlib
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import typer
from typer.testing import CliRunner, Result

from retrain.cli.cluster_ops import register_ops
from retrain.cluster.client import Cluster, ClusterSettings, connect

from .server import StandIn


@dataclass
class Env:
    standin: StandIn
    kubeconfig: Path

    def cluster(self) -> Cluster:
        return connect(ClusterSettings(kubeconfig=str(self.kubeconfig)))

    def cli(self, app: typer.Typer, *args: str) -> Result:
        return CliRunner().invoke(app, list(args), env={"KUBECONFIG": str(self.kubeconfig)})


def cluster_app() -> typer.Typer:
    app = typer.Typer(add_completion=False, pretty_exceptions_enable=False)
    register_ops(app)
    return app


@contextlib.contextmanager
def running(tmp_path: Path) -> Iterator[Env]:
    with StandIn() as standin:
        yield Env(standin, standin.kubeconfig(tmp_path / "kubeconfig"))
        assert not standin.controller_errors, standin.controller_errors[0]


def wait_until(check: Callable[[], bool], timeout_s: float = 20.0, what: str = "condition") -> None:
    """Bounded polling of the stand-in's threads."""
    deadline = time.monotonic() + timeout_s
    while not check():
        if time.monotonic() > deadline:
            raise AssertionError(f"{what} not reached within {timeout_s} s")
        time.sleep(0.01)
