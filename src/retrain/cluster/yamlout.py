"""Deterministic YAML for rendered manifests: keys in the order they were built, multi-line strings
(scripts, embedded manifests) as literal blocks, no line folding, no anchors."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import yaml


class _Dumper(yaml.SafeDumper):
    def ignore_aliases(self, data: Any) -> bool:
        return True  # a repeated dict is written out again, never as &anchor/*alias

    def increase_indent(self, flow: bool = False, indentless: bool = False) -> None:
        super().increase_indent(flow, False)  # list items indented under their key, as kubectl writes them


def _str(dumper: yaml.SafeDumper, value: str) -> yaml.ScalarNode:
    if "\n" in value:
        return dumper.represent_scalar("tag:yaml.org,2002:str", value, style="|")
    if "'" in value and '"' not in value:  # CEL and shell snippets read better without doubled quotes
        return dumper.represent_scalar("tag:yaml.org,2002:str", value, style='"')
    return dumper.represent_scalar("tag:yaml.org,2002:str", value)


_Dumper.add_representer(str, _str)


def dump_document(doc: Any) -> str:
    return yaml.dump(
        doc, Dumper=_Dumper, sort_keys=False, default_flow_style=False, width=1 << 20, allow_unicode=True
    )


def dump_documents(docs: Sequence[Any], header: str = "") -> str:
    """Several documents separated by `---`, with an optional comment header."""
    body = "---\n".join(dump_document(d) for d in docs)
    return f"{header}{body}"
