"""How a pod reads Prometheus: the bearer-token Secret as a volume, and the env vars `retrain` reads.

One owner for the steps of the Tasks, the NotebookValidationJob's pod and the drift CronJob.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from retrain.cluster.manifests import Doc
from retrain.cluster.values import SiteValues

TOKEN_VOLUME = "prometheus-token"  # noqa: S105 - a volume name
TOKEN_DIR = "/var/run/secrets/retrain/prometheus"  # noqa: S105 - a mount path


@dataclass(frozen=True)
class PrometheusAccess:
    volumes: list[Doc] = field(default_factory=list)
    env: list[Doc] = field(default_factory=list)  # PROMETHEUS_BEARER_TOKEN_FILE, PROMETHEUS_CA_FILE
    mounts: list[Doc] = field(default_factory=list)


def prometheus_access(values: SiteValues) -> PrometheusAccess:
    """The volume, env and mount for the site's Prometheus token and CA (nothing when none is set)."""
    prom = values.prometheus
    access = PrometheusAccess()
    if prom.token_secret:
        # optional: a missing Secret fails the Prometheus fetch with a clear message instead of leaving the
        # pod in ContainerCreating until the task times out.
        access.volumes.append(
            {
                "name": TOKEN_VOLUME,
                "secret": {
                    "secretName": prom.token_secret,
                    "items": [{"key": prom.token_key, "path": "token"}],
                    "optional": True,
                },
            }
        )
        access.env.append({"name": "PROMETHEUS_BEARER_TOKEN_FILE", "value": f"{TOKEN_DIR}/token"})
        access.mounts.append({"name": TOKEN_VOLUME, "mountPath": TOKEN_DIR, "readOnly": True})
    if prom.ca_file:
        access.env.append({"name": "PROMETHEUS_CA_FILE", "value": prom.ca_file})
    return access
