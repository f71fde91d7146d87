"""Run rows: finding one (NotFound with suggestions), naming a new one (generateName), checking a choice."""

from __future__ import annotations

import random
import sqlite3
from pathlib import Path

from retrain.errors import Conflict, InvalidInput, NotFound
from retrain.runs.db import Database
from retrain.runs.queries import did_you_mean
from retrain.runs.records import check_name

# Kubernetes' generateName alphabet: [a-z0-9] without vowels and look-alikes, so no suffix spells a word.
_SUFFIX_ALPHABET = "bcdfghjklmnpqrstvwxz2456789"
_SUFFIX_LENGTH = 5
_MAX_PREFIX = 63 - _SUFFIX_LENGTH  # as Kubernetes: the generated name still fits a 63-character label


def run_row(conn: sqlite3.Connection, name: str, db_path: Path) -> sqlite3.Row:
    row: sqlite3.Row | None = conn.execute("SELECT * FROM runs WHERE name = ?", (name,)).fetchone()
    if row is None:
        recent = [r["name"] for r in conn.execute("SELECT name FROM runs ORDER BY seq DESC LIMIT 500")]
        raise NotFound(f"no run named {name!r} in {db_path}", hint=did_you_mean(name, recent))
    return row


def check_choice(value: str, choices: frozenset[str], what: str) -> None:
    if value not in choices:
        raise InvalidInput(f"unknown {what} {value!r}", hint=f"use one of {', '.join(sorted(choices))}")


def unique_name(db: Database, rng: random.Random, generate_name: str) -> str:
    prefix = generate_name[:_MAX_PREFIX]
    with db.read() as conn:
        for _ in range(100):
            suffix = "".join(rng.choice(_SUFFIX_ALPHABET) for _ in range(_SUFFIX_LENGTH))
            candidate = check_name(prefix + suffix, field="metadata.generateName")
            if conn.execute("SELECT 1 FROM runs WHERE name = ?", (candidate,)).fetchone() is None:
                return candidate
    raise Conflict(f"no free name with prefix {prefix!r} after 100 tries", hint="use a longer prefix")
