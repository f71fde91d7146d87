"""`retrain cluster render`: the built-in catalog and the site values -> plain YAML + kustomization.yaml.

`render` is a pure function (same catalog and values, same bytes); reading the catalog and writing the
directory are the two I/O functions around it.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import yaml

from retrain import __version__
from retrain.cluster.manifests import Doc, cron, kserve, monitoring, rbac, storage, tekton, triggers
from retrain.cluster.values import SiteValues
from retrain.cluster.yamlout import dump_document, dump_documents

__all__ = ["FILES", "KUSTOMIZATION", "RenderedTree", "catalog_documents", "render", "write_tree"]

# In apply order (kustomize orders by kind anyway): claims and accounts before what uses them.
FILES = (
    "storage.yaml",
    "rbac.yaml",
    "pipelines.yaml",
    "triggers.yaml",
    "cron.yaml",
    "kserve.yaml",
    "monitoring.yaml",
)
KUSTOMIZATION = "kustomization.yaml"
HEADER = (
    f"# Rendered by `retrain cluster render` (retrain {__version__}) from the built-in catalog and the site\n"
    "# values. Do not edit: change the values and render again.\n"
)


@dataclass(frozen=True)
class RenderedTree:
    """File name -> its documents, in FILES order (files without documents are left out)."""

    namespace: str
    files: dict[str, list[Doc]]

    def kustomization(self) -> Doc:
        return {
            "apiVersion": "kustomize.config.k8s.io/v1beta1",
            "kind": "Kustomization",
            "namespace": self.namespace,
            "resources": list(self.files),
        }

    def texts(self) -> dict[str, str]:
        out = {name: dump_documents(docs, HEADER) for name, docs in self.files.items()}
        out[KUSTOMIZATION] = HEADER + dump_document(self.kustomization())
        return out

    def stream(self) -> str:
        """Every document in one multi-document YAML (for `--out -` and `kubectl apply -f -`)."""
        return dump_documents([d for docs in self.files.values() for d in docs], HEADER)


def render(values: SiteValues, catalog: Sequence[Doc]) -> RenderedTree:
    pipelines = tekton.build(values, catalog)
    groups = {
        "storage.yaml": storage.build(values),
        "rbac.yaml": rbac.build(values),
        "pipelines.yaml": pipelines,
        "triggers.yaml": triggers.build(values, pipelines),
        "cron.yaml": cron.build(values, pipelines),
        "kserve.yaml": kserve.build(values),
        "monitoring.yaml": monitoring.build(values),
    }
    return RenderedTree(values.ns, {name: groups[name] for name in FILES if groups[name]})


def catalog_documents() -> list[Doc]:
    """The built-in catalog's documents as plain data: the Tasks, then the Pipelines (files in name order)."""
    from retrain.catalog import catalog_files

    docs: list[Doc] = []
    for path in catalog_files():
        docs.extend(d for d in yaml.safe_load_all(path.read_text(encoding="utf-8")) if d)
    return docs


def write_tree(tree: RenderedTree, out: Path) -> list[Path]:
    """Write the files; a file of FILES this render has nothing for is removed (never any other file)."""
    out.mkdir(parents=True, exist_ok=True)
    written: list[Path] = []
    for name, text in tree.texts().items():
        path = out / name
        path.write_text(text, encoding="utf-8")
        written.append(path)
    for name in FILES:
        if name not in tree.files:
            (out / name).unlink(missing_ok=True)
    return written
