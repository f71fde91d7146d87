"""Where the run store lives by default."""

from __future__ import annotations

from pathlib import Path

from retrain.runs import default_home


def test_retrain_home_wins() -> None:
    env = {"RETRAIN_HOME": "/srv/retrain", "XDG_DATA_HOME": "/data", "HOME": "/home/u"}
    assert default_home(env) == Path("/srv/retrain")


def test_retrain_home_expands_tilde_against_the_given_home() -> None:
    assert default_home({"RETRAIN_HOME": "~/rt", "HOME": "/home/u"}) == Path("/home/u/rt")


def test_xdg_data_home_next() -> None:
    assert default_home({"XDG_DATA_HOME": "/data", "HOME": "/home/u"}) == Path("/data/retrain")


def test_empty_or_relative_values_are_ignored() -> None:
    env = {"RETRAIN_HOME": "", "XDG_DATA_HOME": "relative/dir", "HOME": "/home/u"}
    assert default_home(env) == Path("/home/u/.local/share/retrain")


def test_default_is_under_home() -> None:
    assert default_home({"HOME": "/home/u"}) == Path("/home/u/.local/share/retrain")
