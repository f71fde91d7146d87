"""`retrain cluster apply|start|runs|logs|cancel`: drive Tekton on a Kubernetes/OpenShift cluster.

They talk to the cluster of the kubeconfig ($KUBECONFIG, ~/.kube/config, or the pod's service account)
through the official Kubernetes client, an optional extra: `pip install 'retrain[cluster]'`.

Exit status: 0 done; 1 the followed run failed, or the API refused for lack of permission (403);
2 bad input or an object the API server found invalid (400/422); 3 not found; 4 conflict (409);
75 the API server is unreachable or busy (try again later).
"""

from __future__ import annotations

import enum
import json
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

from retrain.cli.common import Output
from retrain.cli.exits import EXIT_FAILED, exit_code_for, exits

if TYPE_CHECKING:
    from retrain.cluster.client import Cluster


class CancelModeOpt(enum.StrEnum):
    Cancelled = "Cancelled"
    CancelledRunFinally = "CancelledRunFinally"
    StoppedRunFinally = "StoppedRunFinally"


KubeconfigOpt = Annotated[
    str | None,
    typer.Option("--kubeconfig", help="Kubeconfig file (default: $KUBECONFIG, ~/.kube/config, in-cluster)."),
]
ContextOpt = Annotated[str | None, typer.Option("--context", help="Kubeconfig context (default: current).")]
NamespaceOpt = Annotated[
    str | None,
    typer.Option(
        "--namespace", "-n", help="Namespace (default: the context's, else the pod's, else default)."
    ),
]


def connect(kubeconfig: str | None, context: str | None, namespace: str | None) -> Cluster:
    from retrain.cluster.client import ClusterSettings, connect

    return connect(ClusterSettings(kubeconfig=kubeconfig, context=context, namespace=namespace))


def apply_command(
    directory: Annotated[Path, typer.Argument(help="The tree `retrain cluster render --out DIR` wrote.")],
    force_conflicts: Annotated[
        bool, typer.Option("--force-conflicts", help="Take over fields another field manager owns.")
    ] = False,
    dry_run: Annotated[
        bool, typer.Option("--dry-run", help="Server-side dry run: validate, change nothing.")
    ] = False,
    output: Annotated[Output, typer.Option("--output", "-o", help="Output format.")] = Output.text,
    kubeconfig: KubeconfigOpt = None,
    context: ContextOpt = None,
    namespace: NamespaceOpt = None,
) -> None:
    """Server-side apply every document of DIR (field manager `retrain`); a second apply changes nothing."""
    with exits():
        from retrain.cluster.apply import apply_dir

        with connect(kubeconfig, context, namespace) as cluster:
            report = apply_dir(
                cluster, directory, namespace=namespace, force=force_conflicts, dry_run=dry_run
            )
        if output is Output.json:
            typer.echo(json.dumps([{**item.__dict__, "error": None if item.error is None else str(item.error)}
                                   for item in report.items], indent=2, default=str))  # fmt: skip
        else:
            for line in report.lines():
                typer.echo(line)
        counts: dict[str, int] = {}
        for item in report.items:
            counts[item.action] = counts.get(item.action, 0) + 1
        summary = ", ".join(f"{n} {action}" for action, n in counts.items())
        print(f"{len(report.items)} objects: {summary}", file=sys.stderr)
    error = report.first_error
    if error is not None:
        raise typer.Exit(exit_code_for(error))


ValuesOpt = Annotated[
    Path | None,
    typer.Option(
        "--values",
        "-f",
        help="The site values file (the one `retrain cluster render -f` takes); default: the defaults.",
    ),
]


def start_command(
    pipeline: Annotated[str, typer.Argument(help="The Pipeline, e.g. model-training-pipeline.")],
    param: Annotated[list[str] | None, typer.Option("--param", "-p", help="A param NAME=VALUE.")] = None,
    values: ValuesOpt = None,
    claim: Annotated[
        str | None,
        typer.Option("--claim", help="PVC bound to model-storage (default: the site's modelStorage claim)."),
    ] = None,
    service_account: Annotated[
        str | None,
        typer.Option(
            "--service-account", help="ServiceAccount the TaskRuns run as (default: retrain-pipeline)."
        ),
    ] = None,
    dry_run: Annotated[
        bool, typer.Option("--dry-run", help="Print the PipelineRun it would create; no cluster needed.")
    ] = False,
    output: Annotated[Output, typer.Option("--output", "-o", help="Output format.")] = Output.text,
    kubeconfig: KubeconfigOpt = None,
    context: ContextOpt = None,
    namespace: NamespaceOpt = None,
) -> None:
    """Create a v1 PipelineRun of PIPELINE as the rendered site runs it; print its name.

    From the site (--values, else the defaults) the run gets the pipeline ServiceAccount, every workspace
    bound to the site's claims (model-storage, the GPU claim, the notebooks checkout), the GPU placement
    of the GPU pipeline, its timeout, and, for `-p model-name=M`, the model's params: deploy-target kserve,
    the InferenceService's in-cluster URL, training window and data source. `-p` overrides any param."""
    with exits():
        from retrain.app.cluster_trigger import (
            SiteRunRequest,
            plan_on_cluster,
            plan_site_run,
            start_on_cluster,
        )
        from retrain.cli.common import parse_assignments
        from retrain.cluster.client import ClusterSettings

        request = SiteRunRequest(
            pipeline=pipeline,
            params=parse_assignments(param or [], flag="-p"),
            values_file=values,
            namespace=namespace,
            claim=claim,
            service_account=service_account,
            generate_name=f"{pipeline}-run-",
        )
        if dry_run:
            print_run(plan_site_run(request).body, output)
            return
        settings = ClusterSettings(kubeconfig=kubeconfig, context=context, namespace=namespace)
        created = start_on_cluster(plan_on_cluster(request, settings))
        name, ns = created.name, created.namespace
        print(f"PipelineRun {name} created in {ns} (follow: retrain cluster logs {name} -f)", file=sys.stderr)
        typer.echo(json.dumps({"run": name, "namespace": ns}) if output is Output.json else name)


def print_run(body: dict[str, object], output: Output) -> None:
    """A planned PipelineRun: YAML (what `kubectl create -f -` takes), or JSON with -o json."""
    if output is Output.json:
        typer.echo(json.dumps(body, indent=2))
        return
    from retrain.cluster.yamlout import dump_document

    typer.echo(dump_document(body), nl=False)


def runs_command(
    selector: Annotated[
        str, typer.Option("--selector", "-l", help="Label selector, e.g. retrain.dev/model=x.")
    ] = "",
    output: Annotated[Output, typer.Option("--output", "-o", help="Output format.")] = Output.text,
    kubeconfig: KubeconfigOpt = None,
    context: ContextOpt = None,
    namespace: NamespaceOpt = None,
) -> None:
    """List the PipelineRuns of the namespace, newest first."""
    with exits():
        from retrain.cli.common import print_table
        from retrain.cluster.pipelineruns import list_runs

        with connect(kubeconfig, context, namespace) as cluster:
            rows = list_runs(cluster, labels=selector)
        if output is Output.json:
            typer.echo(json.dumps([r.__dict__ for r in rows], indent=2))
        elif not rows:
            print("no PipelineRuns", file=sys.stderr)
        else:
            print_table(
                ("NAME", "PIPELINE", "STATUS", "STARTED", "FINISHED"),
                [(r.name, r.pipeline, r.status, r.started or "-", r.finished or "-") for r in rows],
            )


def logs_command(
    run: Annotated[str, typer.Argument(help="The PipelineRun.")],
    follow: Annotated[bool, typer.Option("--follow", "-f", help="Follow until the run is done.")] = False,
    kubeconfig: KubeconfigOpt = None,
    context: ContextOpt = None,
    namespace: NamespaceOpt = None,
) -> None:
    """Print the logs of RUN's TaskRun pods, `[task/step] line`, tasks in start order, steps in order."""
    with exits():
        from retrain.cluster.pipelineruns import follow_logs

        with connect(kubeconfig, context, namespace) as cluster:
            final = follow_logs(cluster, run, typer.echo, follow=follow)
        if follow:
            print(
                f"PipelineRun {final.name}: {final.status}"
                + (f" - {final.message}" if final.message else ""),
                file=sys.stderr,
            )
    if follow and final.done and final.status not in ("Succeeded", "Completed"):
        raise typer.Exit(EXIT_FAILED)


def cancel_command(
    run: Annotated[str, typer.Argument(help="The PipelineRun.")],
    mode: Annotated[
        CancelModeOpt,
        typer.Option("--mode", help="Cancelled (stop now), CancelledRunFinally, StoppedRunFinally."),
    ] = CancelModeOpt.Cancelled,
    output: Annotated[Output, typer.Option("--output", "-o", help="Output format.")] = Output.text,
    kubeconfig: KubeconfigOpt = None,
    context: ContextOpt = None,
    namespace: NamespaceOpt = None,
) -> None:
    """Cancel RUN: patch its spec.status (Tekton stops its TaskRuns)."""
    with exits():
        from retrain.cluster.pipelineruns import cancel_run

        with connect(kubeconfig, context, namespace) as cluster:
            changed, state = cancel_run(cluster, run, mode.value)
        if output is Output.json:
            typer.echo(
                json.dumps({"run": run, "changed": changed, "mode": mode.value, "status": state.status})
            )
        elif changed:
            typer.echo(f"PipelineRun {run}: spec.status set to {mode.value}")
        else:
            typer.echo(f"PipelineRun {run} already finished ({state.status}); nothing to cancel")


def register_ops(app: typer.Typer) -> None:
    """Add apply, start, runs, logs and cancel to the `retrain cluster` Typer app."""
    app.command("apply", no_args_is_help=True)(apply_command)
    app.command("start", no_args_is_help=True)(start_command)
    app.command("runs")(runs_command)
    app.command("logs", no_args_is_help=True)(logs_command)
    app.command("cancel", no_args_is_help=True)(cancel_command)
