"""`retrain cluster`: render the site's manifests and validate them (cluster_ops.py drives a cluster; main.py
adds its commands to this group).

retrain cluster render --namespace NS [--values site.yaml] --out DIR   then   oc apply -k DIR
retrain cluster validate DIR [--crds DIR] [--kubernetes-version 1.29]
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

import typer

from retrain.cli.common import Output
from retrain.cli.exits import EXIT_INVALID, exits, report

app = typer.Typer(
    rich_markup_mode=None,
    name="cluster",
    help="Render, validate and drive the Tekton, Tekton Triggers and KServe resources of a cluster site.",
    no_args_is_help=True,
)


@app.command("render")
def render_command(
    out: str = typer.Option(
        ..., "--out", "-o", help="Directory to write (plain YAML + kustomization.yaml); - for stdout."
    ),
    namespace: str | None = typer.Option(
        None, "--namespace", "-n", help="Namespace (overrides the values file)."
    ),
    values: Path | None = typer.Option(
        None, "--values", "-f", help="Site values YAML (see docs/cluster.md)."
    ),
) -> None:
    """Render the built-in pipelines and the site's triggers, schedules, storage, RBAC, InferenceServices and
    drift alert for one namespace. A pure function of the catalog and the values: the same inputs give the
    same bytes."""
    from retrain.cluster.render import catalog_documents, render, write_tree
    from retrain.cluster.values import load_values

    with exits():
        site = load_values(values, namespace=namespace)
        tree = render(site, catalog_documents())
        if out == "-":
            sys.stdout.write(tree.stream())
            return
        written = write_tree(tree, Path(out))
        count = sum(len(docs) for docs in tree.files.values())
        print(f"rendered {count} documents for namespace {site.ns} into {out}/:", file=sys.stderr)
        for path in written:
            print(f"  {path.name}", file=sys.stderr)
        print(
            f"apply with: oc apply -k {out}   (check first: retrain cluster validate {out})", file=sys.stderr
        )


@app.command("validate")
def validate_command(
    directory: Path = typer.Argument(..., help="A rendered directory."),
    crds: Path | None = typer.Option(
        None,
        "--crds",
        help="Tekton CRD directory (default: $RETRAIN_TEKTON_CRDS or ../shared/tekton/crds-v1.15.0).",
    ),
    kubernetes_version: str = typer.Option(
        "1.29", "--kubernetes-version", help="Kubernetes schemas to check against."
    ),
    output: Output = typer.Option(Output.text, "--output", "-o", help="Output format."),
) -> None:
    """Check every document: retrain's strict models and references, Tekton's v1 CRD schemas, Kubernetes'
    schemas of core kinds. Exit 0 when all pass, 2 (with file:line and field path for each) otherwise."""
    from retrain.cluster.validate import validate_tree

    with exits():
        result = validate_tree(directory, crds=crds, kubernetes_version=kubernetes_version)
        if output is Output.json:
            print(
                json.dumps(
                    {
                        "valid": not result.problems,
                        "documents": result.documents,
                        "files": [str(f) for f in result.files],
                        "checks": list(result.checks),
                        "not_checked": list(result.skipped),
                        "problems": [str(p) for p in result.problems],
                    },
                    indent=2,
                )
            )
            raise typer.Exit(EXIT_INVALID if result.problems else 0)
        for problem in result.problems:
            report(problem)
        print(f"{result.documents} documents in {len(result.files)} files checked against:")
        for check in result.checks:
            print(f"  {check}")
        for skipped in result.skipped:
            print(f"  not checked: {skipped}")
        if result.problems:
            print(f"{len(result.problems)} problem(s)", file=sys.stderr)
            raise typer.Exit(EXIT_INVALID)
        print("all valid")
