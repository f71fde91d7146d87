"""Which inference endpoint a verb talks to, and which version that endpoint really answers with.

`--serving-url URL` wins; without it, the `retrain serve` recorded in $RETRAIN_HOME is used when its process
is alive and answers; without either, the verb is registry-only and says so. `live_version` reads back what
the endpoint serves, so that no summary claims a version serves unless the endpoint answers with it.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Literal

Origin = Literal["option", "discovered", "none"]


@dataclass(frozen=True)
class ServingChoice:
    url: str  # empty: no server (registry-only)
    origin: Origin
    detail: str  # one sentence: where the URL came from, or why there is none
    registry: Path | None = None  # the registry a discovered server serves from

    @property
    def registry_only(self) -> bool:
        return not self.url


def resolve_serving_url(explicit: str | None, home: Path | None) -> ServingChoice:
    """The option when given (even empty: registry-only, said explicitly), else the recorded server."""
    from retrain.app.deploy import check_url

    if explicit is not None:
        url = check_url(explicit, option="--serving-url")
        if not url:
            return ServingChoice("", "none", "registry only (--serving-url ''): no server is told or checked")
        return ServingChoice(url, "option", f"{url} (given with --serving-url)")
    from retrain.app.endpoints import discover
    from retrain.runs.home import default_home

    where = home or default_home()
    found = discover(where)
    if found.endpoint is not None:
        return ServingChoice(found.endpoint.url, "discovered", found.reason, found.endpoint.registry)
    return ServingChoice(
        "",
        "none",
        f"registry only: {found.reason}; start `retrain serve` or pass --serving-url URL for a live check",
    )


def registry_mismatch(choice: ServingChoice, registry: Path) -> str | None:
    """A warning when the server found serves another registry than the one a verb writes to: a version
    promoted there is never served, so the live check would fail."""
    if choice.registry is None or choice.registry.resolve() == registry.resolve():
        return None
    return (
        f"the server at {choice.url} serves the registry {choice.registry}, not {registry}: "
        "a version deployed here will not be served there, and its live check will fail "
        f"(use --registry {choice.registry}, or --serving-url for another server)"
    )


@dataclass(frozen=True)
class LiveVersion:
    url: str
    name: str  # the model's name on the wire
    version: int | None  # None: the endpoint did not say (see detail)
    detail: str


def live_version(url: str, name: str, *, timeout_s: float = 3.0) -> LiveVersion:
    """Ask the endpoint which version of `name` it answers with (Open Inference Protocol model metadata)."""
    import httpx

    target = f"{url.rstrip('/')}/v2/models/{name}"
    try:
        response = httpx.get(target, timeout=timeout_s)
    except httpx.HTTPError as err:
        return LiveVersion(url, name, None, f"no answer from {target}: {type(err).__name__}")
    if response.status_code != 200:
        return LiveVersion(url, name, None, f"{target} answered HTTP {response.status_code}")
    try:
        versions = response.json().get("versions") or []
        version = int(versions[0]) if versions else None
    except (ValueError, TypeError, AttributeError, IndexError):
        version = None
    if version is None:
        header = response.headers.get("X-Model-Version", "")
        version = int(header) if header.isdigit() else None
    if version is None:
        return LiveVersion(url, name, None, f"{target} did not say which version it serves")
    return LiveVersion(url, name, version, f"{target} answers with version {version}")
