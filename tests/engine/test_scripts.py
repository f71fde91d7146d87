"""Tekton's script semantics: default preamble, file naming, executable bit, visible path."""

from __future__ import annotations

import re
import secrets
import stat
from collections.abc import Iterator
from pathlib import Path

import pytest

from retrain.engine.scripts import DEFAULT_PREAMBLE, materialize_script, read_shebang, script_text
from retrain.errors import InvalidInput


def test_script_without_shebang_gets_sh_and_set_e() -> None:
    assert script_text("echo hi\n") == "#!/bin/sh\nset -e\necho hi\n"
    assert DEFAULT_PREAMBLE == "#!/bin/sh\nset -e\n"


def test_script_with_shebang_is_kept_as_written() -> None:
    text = "#!/usr/bin/env python3\nprint('hi')\n"
    assert script_text(text) == text


def test_leading_blank_lines_before_a_shebang_are_dropped_so_the_kernel_can_run_it() -> None:
    assert script_text("\n\n  #!/bin/bash\necho hi\n") == "#!/bin/bash\necho hi\n"


def test_a_comment_is_not_a_shebang() -> None:
    assert script_text("# just a comment\necho hi").startswith(DEFAULT_PREAMBLE)


@pytest.mark.parametrize("script", ["", "  \n\t\n"])
def test_empty_script_is_rejected_with_the_step_name(script: str) -> None:
    with pytest.raises(InvalidInput, match='step "build" has an empty script') as caught:
        script_text(script, step_name="build")
    assert caught.value.hint


def test_windows_script_is_rejected() -> None:
    with pytest.raises(InvalidInput, match="Windows"):
        script_text("#!win pwsh\nWrite-Host hi", step_name="w")


def test_materialize_writes_an_executable_file_named_like_tekton(tmp_path: Path) -> None:
    scripts_dir = tmp_path / "scripts"  # created on demand
    path, argv = materialize_script("echo hi\n", scripts_dir, 3, "build")
    assert path.parent == scripts_dir
    assert re.fullmatch(r"script-3-[bcdfghjklmnpqrstvwxz2456789]{5}", path.name)
    assert path.read_text() == "#!/bin/sh\nset -e\necho hi\n"
    assert stat.S_IMODE(path.stat().st_mode) == 0o755
    assert argv == [f"/tekton/scripts/{path.name}"]


def test_materialize_uses_the_visible_dir_for_the_argv(tmp_path: Path) -> None:
    path, argv = materialize_script("true", tmp_path, 0, "s", visible_dir=str(tmp_path) + "/")
    assert argv == [str(path)]


def test_materialize_never_overwrites_an_existing_script(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    letters: Iterator[str] = iter("bbbbb" + "bbbbb" + "ccccc")
    monkeypatch.setattr(secrets, "choice", lambda _alphabet: next(letters))
    first, _ = materialize_script("echo one", tmp_path, 0, "s")
    second, _ = materialize_script("echo two", tmp_path, 0, "s")
    assert (first.name, second.name) == ("script-0-bbbbb", "script-0-ccccc")
    assert "echo one" in first.read_text()
    assert "echo two" in second.read_text()


@pytest.mark.parametrize(
    ("head", "expected"),
    [
        ("#!/bin/sh\n", ["/bin/sh"]),
        ("#! /bin/bash -e -x\n", ["/bin/bash", "-e -x"]),
        ("#!/usr/bin/env\tpython3\n", ["/usr/bin/env", "python3"]),
        ("echo no shebang\n", None),
        ("#!\n", None),
    ],
)
def test_read_shebang_splits_like_the_kernel(tmp_path: Path, head: str, expected: list[str] | None) -> None:
    path = tmp_path / "s"
    path.write_text(head + "echo body\n")
    assert read_shebang(path) == expected


def test_read_shebang_of_a_missing_file_is_none(tmp_path: Path) -> None:
    assert read_shebang(tmp_path / "missing") is None
