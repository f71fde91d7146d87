"""Sandbox choice, the bwrap command line, host-mode translation and the step environment."""

from __future__ import annotations

import logging
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from retrain.engine import sandbox as sandbox_module
from retrain.engine.sandbox import (
    STANDARD_PATH,
    BwrapSandbox,
    HostSandbox,
    Mount,
    detect_sandbox,
    sandbox_limitations,
    step_environment,
)
from retrain.errors import InvalidInput, NotFound

BIN = str(Path(sys.executable).parent)


@pytest.fixture
def fresh_warning(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(sandbox_module, "_host_warning_given", False)


# --- environment --------------------------------------------------------------------------------------------


def test_environment_is_a_small_base_plus_retrain_vars_plus_the_step_env() -> None:
    host = {"SECRET_TOKEN": "s", "HOME": "/root", "RETRAIN_HOME": "/data", "TZ": "Europe/Paris", "USER": "x"}
    env = step_environment({"FOO": "bar", "HOME": "/tekton/home"}, host_env=host, bin_dir="/venv/bin")
    assert env == {
        "PATH": f"/venv/bin:{STANDARD_PATH}",
        "LANG": "C.UTF-8",
        "LC_ALL": "C.UTF-8",
        "TZ": "Europe/Paris",
        "RETRAIN_HOME": "/data",
        "FOO": "bar",
        "HOME": "/tekton/home",
    }


def test_step_env_wins_over_defaults_and_a_step_locale_is_not_overridden() -> None:
    env = step_environment({"PATH": "/custom", "LANG": "de_DE.UTF-8"}, host_env={}, bin_dir="/b")
    assert env["PATH"] == "/custom"
    assert env["LANG"] == "de_DE.UTF-8"
    assert "LC_ALL" not in env


def test_standard_path_follows_the_venv() -> None:
    assert STANDARD_PATH == "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"


# --- bwrap command line -------------------------------------------------------------------------------------


def _bwrap(tmp_path: Path) -> BwrapSandbox:
    return BwrapSandbox(bwrap="/usr/bin/bwrap", host_env={"RETRAIN_HOME": "/d", "OTHER": "x"})


def test_bwrap_binds_mounts_parents_first_read_only_where_asked(tmp_path: Path) -> None:
    (tmp_path / "ws").mkdir()
    (tmp_path / "src").mkdir()
    (tmp_path / "res").mkdir()
    mounts = [
        Mount(tmp_path / "src", "/workspace/source", read_only=True),
        Mount(tmp_path / "res", "/tekton/results"),
        Mount(tmp_path / "ws", "/workspace"),
    ]
    argv, _env, cwd = _bwrap(tmp_path).wrap(["echo", "hi"], mounts=mounts, working_dir="/workspace", env={})
    text = " ".join(argv)
    assert argv[0] == "/usr/bin/bwrap"
    assert {"--unshare-pid", "--die-with-parent"} <= set(argv)
    assert "--new-session" not in argv  # it would move the step out of the process group we signal
    assert "--unshare-net" not in argv
    assert f"--bind {tmp_path / 'ws'} /workspace" in text
    assert f"--ro-bind {tmp_path / 'src'} /workspace/source" in text
    assert text.index(" /workspace ") < text.index(" /workspace/source ")
    assert "--ro-bind /usr /usr" in text
    assert "--tmpfs /tmp" in text
    assert f"--ro-bind {sys.prefix} {sys.prefix}" in text
    assert argv[-4:] == ["/workspace", "--", "echo", "hi"]
    assert cwd == "/"


def test_bwrap_creates_a_missing_working_dir_inside_its_mount_only(tmp_path: Path) -> None:
    (tmp_path / "ws").mkdir()
    mounts = [Mount(tmp_path / "ws", "/workspace")]
    argv, _, _ = _bwrap(tmp_path).wrap(["true"], mounts=mounts, working_dir="/workspace/a/b", env={})
    assert (tmp_path / "ws" / "a" / "b").is_dir()
    assert "--dir" not in argv
    argv, _, _ = _bwrap(tmp_path).wrap(["true"], mounts=mounts, working_dir="/scratch/here", env={})
    assert argv[argv.index("--dir") + 1] == "/scratch/here"  # made in the sandbox's tmpfs, not on the host
    assert not Path("/scratch/here").exists()


def test_bwrap_env_sets_home_from_the_home_mount_and_keeps_only_retrain_vars(tmp_path: Path) -> None:
    mounts = [Mount(tmp_path, "/tekton/home")]
    _, env, _ = _bwrap(tmp_path).wrap(["true"], mounts=mounts, working_dir="/", env={"A": "1"})
    assert env["HOME"] == "/tekton/home"
    assert env["RETRAIN_HOME"] == "/d"
    assert "OTHER" not in env
    assert env["PATH"].startswith(BIN + ":")
    _, env, _ = _bwrap(tmp_path).wrap(["true"], mounts=mounts, working_dir="/", env={"HOME": "/h"})
    assert env["HOME"] == "/h"


def test_missing_mount_source_or_relative_target_is_reported(tmp_path: Path) -> None:
    with pytest.raises(NotFound, match="does not exist"):
        _bwrap(tmp_path).wrap(["true"], mounts=[Mount(tmp_path / "nope", "/w")], working_dir="/", env={})
    with pytest.raises(InvalidInput, match="not an absolute path"):
        _bwrap(tmp_path).wrap(["true"], mounts=[Mount(tmp_path, "w")], working_dir="/", env={})


def test_bwrap_shows_a_shell_that_accepts_double_brackets_at_bin_sh() -> None:
    argv = BwrapSandbox(bwrap="bwrap").wrap(["true"], mounts=[], working_dir="/", env={})[0]
    real_sh = os.path.realpath("/bin/sh")
    if Path(real_sh).name != "bash":
        at = argv.index(real_sh)
        assert argv[at - 2] == "--ro-bind"
        assert Path(argv[at - 1]).name in ("bash", "busybox")


# --- host mode ----------------------------------------------------------------------------------------------


def test_host_visible_path_is_the_real_path_and_container_working_dirs_are_translated(tmp_path: Path) -> None:
    host = HostSandbox(host_env={})
    mount = Mount(tmp_path, "/workspace/source")
    assert host.visible_path(mount) == str(tmp_path)
    argv, env, cwd = host.wrap(["echo"], mounts=[mount], working_dir="/workspace/source/sub", env={})
    assert cwd == str(tmp_path / "sub")
    assert (tmp_path / "sub").is_dir()
    assert argv == ["echo"]
    assert env["PATH"].startswith(BIN + ":")
    _, _, cwd = host.wrap(["echo"], mounts=[mount], working_dir=str(tmp_path / "deeper"), env={})
    assert cwd == str(tmp_path / "deeper")


def test_host_mode_refuses_a_working_dir_that_does_not_exist(tmp_path: Path) -> None:
    with pytest.raises(NotFound, match="does not exist on this host"):
        HostSandbox().wrap(["true"], mounts=[], working_dir="/workspace", env={})


@pytest.mark.skipif(shutil.which("bash") is None, reason="needs bash")
def test_host_mode_runs_sh_scripts_with_bash_in_posix_mode(tmp_path: Path) -> None:
    bash = shutil.which("bash")
    sh_script = tmp_path / "a"
    sh_script.write_text("#!/bin/sh\n[[ 1 ]]\n")
    env_sh = tmp_path / "b"
    env_sh.write_text("#!/usr/bin/env sh\n")
    bash_script = tmp_path / "c"
    bash_script.write_text("#!/bin/bash\n")
    host = HostSandbox()

    def wrap(argv: list[str]) -> list[str]:
        return host.wrap(argv, mounts=[], working_dir="/", env={})[0]

    assert wrap([str(sh_script), "x"]) == [bash, "--posix", str(sh_script), "x"]
    assert wrap([str(env_sh)]) == [bash, "--posix", str(env_sh)]
    assert wrap(["sh", "-c", "[[ 1 ]]"]) == [bash, "--posix", "-c", "[[ 1 ]]"]
    assert wrap([str(bash_script), "x"]) == [str(bash_script), "x"]
    assert wrap(["echo", "sh"]) == ["echo", "sh"]


# --- detection ----------------------------------------------------------------------------------------------


def test_host_mode_says_once_what_it_cannot_honour(
    fresh_warning: None, caplog: pytest.LogCaptureFixture
) -> None:
    with caplog.at_level(logging.WARNING, logger="retrain.engine"):
        first = detect_sandbox(prefer="host")
        detect_sandbox(prefer="host")
    warnings = [r for r in caplog.records if r.name == "retrain.engine"]
    assert len(warnings) == 1
    text = warnings[0].getMessage()
    assert "/workspace" in text
    assert "/tekton" in text
    assert "read-only" in text
    assert first.mode == "host"
    assert len(sandbox_limitations(first)) == 5
    assert "isolated workspaces" in text and "/tekton/run/<i>" in text


def test_auto_falls_back_to_host_when_bwrap_is_missing(
    fresh_warning: None, monkeypatch: pytest.MonkeyPatch, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    monkeypatch.setenv("PATH", str(tmp_path))
    with caplog.at_level(logging.WARNING, logger="retrain.engine"):
        chosen = detect_sandbox()
    assert chosen.mode == "host"
    assert "bwrap is not installed" in caplog.text
    with pytest.raises(InvalidInput, match="bwrap sandbox was requested"):
        detect_sandbox(prefer="bwrap")


def test_auto_falls_back_to_host_when_the_trial_fails(
    fresh_warning: None, monkeypatch: pytest.MonkeyPatch, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    fake = tmp_path / "bwrap"
    fake.write_text("#!/bin/sh\necho 'No permissions to creating new namespace' >&2\nexit 1\n")
    fake.chmod(0o755)
    monkeypatch.setenv("PATH", f"{tmp_path}:{os.environ['PATH']}")
    with caplog.at_level(logging.WARNING, logger="retrain.engine"):
        chosen = detect_sandbox()
    assert chosen.mode == "host"
    assert "No permissions to creating new namespace" in caplog.text


def test_auto_chooses_bwrap_when_it_works_and_tries_only_once(monkeypatch: pytest.MonkeyPatch) -> None:
    if shutil.which("bwrap") is None:
        pytest.skip("bwrap is not installed")
    calls: list[list[str]] = []
    real_run = subprocess.run

    def counting_run(argv: list[str], **kwargs: object) -> subprocess.CompletedProcess[bytes]:
        calls.append(argv)
        return real_run(argv, **kwargs)  # type: ignore[call-overload, no-any-return]

    sandbox_module._trial.cache_clear()
    monkeypatch.setattr(subprocess, "run", counting_run)
    first = detect_sandbox()
    second = detect_sandbox()
    if first.mode == "host":
        pytest.skip("bwrap cannot create a sandbox on this machine")
    assert second.mode == "bwrap"
    assert len(calls) == 1
    assert sandbox_limitations(first) == []
    assert first.visible_path(Mount(Path("/x"), "/workspace/x")) == "/workspace/x"


def test_a_given_venv_is_bound_and_first_on_path(tmp_path: Path) -> None:
    venv = tmp_path / "venv"
    (venv / "bin").mkdir(parents=True)
    (venv / "pyvenv.cfg").write_text(f"home = {Path(sys.base_prefix) / 'bin'}\n")
    argv, env, _ = BwrapSandbox(bwrap="bwrap", venv=venv).wrap(["true"], mounts=[], working_dir="/", env={})
    assert f"--ro-bind {venv} {venv}" in " ".join(argv)
    assert env["PATH"].startswith(f"{venv}/bin:")
    _, env, _ = HostSandbox(venv=venv).wrap(["true"], mounts=[], working_dir="/", env={})
    assert env["PATH"].startswith(f"{venv}/bin:")
