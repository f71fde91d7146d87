"""Deploy, verify and roll back: the deployer for a serving target is chosen here, and only here.

`serving` (the local inference server's deployer) and `cluster` (KServe's) both implement
`retrain.serving.deployers.Deployer`; choosing between them is composition, so it lives in the application
layer and neither package imports the other for it.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from retrain.errors import InvalidInput, Location

if TYPE_CHECKING:
    from retrain.registry import Registry
    from retrain.serving.deployers import Deployer, DeployResult
    from retrain.serving.rollback import RollbackOutcome
    from retrain.serving.verify import VerifyOptions, VerifyReport

TARGETS = ("local", "kserve")


def check_url(url: str, *, option: str) -> str:
    """An http(s) URL or empty (no server to tell); anything else is bad input naming the option."""
    url = url.strip()
    if url and not url.startswith(("http://", "https://")):
        raise InvalidInput(
            f"{option} must be an http:// or https:// URL, got {url!r}",
            location=Location(field=option),
            hint="for example http://127.0.0.1:8080 (where `retrain serve` listens by default)",
        )
    return url


def deployer_for(
    target: str, registry: Registry, *, serving_url: str = "", inference_service: str = ""
) -> Deployer:
    """The deployer for `target` (`local` or `kserve`); InvalidInput for any other."""
    url = check_url(serving_url, option="--serving-url")
    service = inference_service.strip()
    if target == "local":
        import os

        from retrain.serving.deployers import LocalDeployer

        # `retrain serve` with an API token (RETRAIN_API_TOKEN) refuses its reload hook without it.
        return LocalDeployer(registry, url, service, token=os.environ.get("RETRAIN_API_TOKEN") or None)
    if target == "kserve":
        # The cluster support (the optional `kubernetes` client) is imported only when KServe is the target.
        from retrain.cluster.kserve import kserve_deployer

        return kserve_deployer(registry, url, service)
    raise InvalidInput(
        f"unknown deploy target {target!r}",
        location=Location(field="--target"),
        hint=f"use one of: {', '.join(TARGETS)}",
    )


def _registry(root: Path | None) -> Registry:
    from retrain.registry import Registry, default_root

    return Registry(root if root is not None else default_root())


@dataclass(frozen=True)
class DeployRequest:
    model: str
    version: int
    target: str = "local"
    serving_url: str = ""  # empty: tell no server (a running `retrain serve` follows the registry itself)
    inference_service: str = ""
    registry: Path | None = None
    run: str | None = None
    reason: str = ""


def deploy(request: DeployRequest) -> DeployResult:
    """Promote the version atomically, then tell the serving target (a refusal undoes the promotion)."""
    deployer = deployer_for(
        request.target,
        _registry(request.registry),
        serving_url=request.serving_url,
        inference_service=request.inference_service,
    )
    return deployer.deploy(request.model, request.version, reason=request.reason, run=request.run)


@dataclass(frozen=True)
class RollbackRequest:
    model: str
    only_if_serving: int | None = None
    target: str = "local"
    serving_url: str = ""
    inference_service: str = ""
    registry: Path | None = None
    run: str | None = None
    reason: str = ""


def rollback(request: RollbackRequest) -> RollbackOutcome:
    """Serve `previous` again and tell the target; with `only_if_serving`, only while that version serves."""
    from retrain.serving.rollback import rollback as guarded_rollback

    store = _registry(request.registry)
    deployer = deployer_for(
        request.target, store, serving_url=request.serving_url, inference_service=request.inference_service
    )
    return guarded_rollback(
        deployer,
        store,
        request.model,
        only_if_serving=request.only_if_serving,
        reason=request.reason,
        run=request.run,
    )


@dataclass(frozen=True)
class VerifyRequest:
    model: str
    endpoint: str
    options: VerifyOptions
    version: int | None = None  # None: the registry's serving version
    inference_service: str = ""
    target: str = "local"
    registry: Path | None = None


def verify(request: VerifyRequest) -> VerifyReport:
    """Check the live endpoint: ready as the version, and its answers equal the registry's predictions."""
    from retrain.serving.verify import verify_endpoint

    served: Callable[[], tuple[int | None, str]] | None = None
    if request.target == "kserve":
        served = _kserve_served_version(request.inference_service or request.model)
    elif request.target != "local":
        deployer_for(request.target, _registry(request.registry))  # raises the one "unknown target" error
    return verify_endpoint(
        _registry(request.registry),
        request.model,
        check_url(request.endpoint, option="--endpoint"),
        version=request.version,
        inference_service=request.inference_service,
        options=request.options,
        served_version=served,
    )


def _kserve_served_version(name: str) -> Callable[[], tuple[int | None, str]]:
    from retrain.cluster.client import ClusterSettings, connect
    from retrain.cluster.kserve import KServeOptions, served_version

    kserve = KServeOptions.from_env(None)
    cluster = connect(
        ClusterSettings(kubeconfig=kserve.kubeconfig, context=kserve.context, namespace=kserve.namespace)
    )
    return served_version(cluster, name, kserve.namespace)
