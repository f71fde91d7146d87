"""Which images' entrypoints the engine knows, and what a step without command or script runs on them."""

from __future__ import annotations

import subprocess

import pytest

from retrain.engine.images import entrypoint_argv

NOP = "ghcr.io/tektoncd/pipeline/nop-8eac7c133edad5df719dc37b36b62482@sha256:5a587635b5b355d51def"


@pytest.mark.parametrize(
    "image",
    [
        NOP,
        "ghcr.io/tektoncd/pipeline/cmd/nop:v1.0.0",
        "registry.local:5000/tektoncd/pipeline/nop-abc123:latest",
    ],
)
def test_tektons_nop_image_logs_exiting_and_exits_zero(image: str) -> None:
    argv = entrypoint_argv(image, [])
    assert argv is not None
    done = subprocess.run(argv, capture_output=True, text=True, timeout=30, check=False)
    assert (done.returncode, done.stdout, done.stderr) == (0, "", "Exiting...\n")


def test_tektons_nop_image_waits_for_a_signal_when_told_to_run_indefinitely() -> None:
    argv = entrypoint_argv(NOP, ["tekton_run_indefinitely"])
    assert argv is not None
    with subprocess.Popen(argv, stderr=subprocess.PIPE, text=True) as proc:
        assert proc.stderr is not None
        assert proc.stderr.readline() == "Waiting indefinitely...\n"  # it is waiting, not gone
        assert proc.poll() is None
        proc.terminate()
        assert proc.wait(timeout=30) == 0
        assert proc.stderr.read().endswith("Exiting...\n")


def test_an_image_named_nop_elsewhere_is_not_tektons() -> None:
    assert entrypoint_argv("docker.io/someone/nop:1", []) is None
    assert entrypoint_argv("quay.io/acme/pipeline/nop-1234", []) is None


def test_a_step_with_only_args_on_a_known_image_runs_them_through_its_entrypoint() -> None:
    assert entrypoint_argv("mirror.gcr.io/ubuntu@sha256:0d39", ["-c", "echo hello"]) == [
        "/bin/bash",
        "-c",
        "echo hello",
    ]
    assert entrypoint_argv("gcr.io/go-containerregistry/crane", ["digest"]) is None
