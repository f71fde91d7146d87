"""The `retrain` command. Sub-command modules are imported when their group is used, so `--help` is fast."""

from __future__ import annotations

import typer

from retrain import __version__

app = typer.Typer(
    rich_markup_mode=None,
    name="retrain",
    help="Keep ML models fresh and safe: Tekton v1 pipelines that train, gate, deploy and roll back.",
    no_args_is_help=True,
    add_completion=True,  # --install-completion / --show-completion for bash, zsh, fish and PowerShell
    pretty_exceptions_enable=False,
)


def _version(value: bool) -> None:
    if value:
        print(f"retrain {__version__}")
        raise typer.Exit()


@app.callback()
def _root(
    version: bool = typer.Option(
        False, "--version", callback=_version, is_eager=True, help="Print the version."
    ),
) -> None:
    """retrain: local Tekton engine, model registry, gate, serving and triggers."""


def _register() -> None:
    from retrain.cli import (
        check,
        cluster,
        cluster_ops,
        demo,
        deploy,
        drift,
        models,
        notify,
        run,
        runs,
        runs_debug,
        schedules,
        serve,
        train,
        trigger,
    )

    run.register(app)
    runs.app.command("debug", no_args_is_help=True)(runs_debug.debug_command)  # debug breakpoints
    app.add_typer(runs.app, name="runs", help="List, show, follow, cancel, re-run and prune runs.")
    train.register(app)
    app.add_typer(
        models.app, name="models", help="Model versions: list, show, history, promote, rollback, prune."
    )
    serve.register(app)
    check.register(app)
    deploy.register(app)
    trigger.register(app)
    demo.register(app)
    drift.register(app)
    schedules.register(app)
    notify.register(app)
    cluster_ops.register_ops(cluster.app)  # apply, start, runs, logs, cancel join render and validate
    app.add_typer(
        cluster.app, name="cluster", help="Render, validate, apply and drive the same pipelines on a cluster."
    )


_register()


def main() -> None:
    app()


if __name__ == "__main__":
    main()
