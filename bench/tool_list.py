"""What ``tools/list`` costs a conversation, for each role and toolset (issue 18).

    python -m bench.tool_list

Every tool definition a channel lists is in the model's context in every conversation, before
any work. For each role (viewer, editor, host) and each choice of toolsets (``default``, each
set alone with ``context``, ``all``), this prints the number of tools, the bytes of the
``tools/list`` result as the channel sends it (the SDK's JSON: by alias, no nulls, compact; the
JSON-RPC envelope adds about 40 bytes), the characters of the descriptions alone, and a token
estimate.

Tokens are estimated as bytes / 4, stated as such: no tokenizer is available offline here
(``tiktoken`` downloads its encodings on first use), and JSON with English text runs near 4
bytes a token for the usual BPE tokenizers. The figures are deterministic for a given version.

Run from a checkout without toolsets (before issue 18), it reports every tool as ``all``.
"""

from __future__ import annotations

import functools
import json
import sys
from collections.abc import Callable, Iterable
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

import mcp_types as types

from letswork.channel.tools.base import ToolSpec, tool_definition

ROLES = ("viewer", "editor", "host")
#: Bytes a token, for the estimate (see the module's docstring).
BYTES_PER_TOKEN = 4


def _choices() -> dict[str, Callable[[str], list[ToolSpec]]]:
    """``{choice: (role -> tools)}``: each toolset choice, or just ``all`` before toolsets."""
    try:
        from letswork.channel.tools import toolsets
    except ImportError:  # a checkout from before issue 18
        from letswork.channel.tools.catalogue import tools_for_role

        return {"all": tools_for_role}
    names: dict[str, frozenset[str]] = {"default": toolsets.parse_toolsets("default")}
    for name in toolsets.TOOLSETS:
        if name != toolsets.ALWAYS_ON:
            names[f"context+{name}"] = toolsets.parse_toolsets(name)
    names["all"] = toolsets.parse_toolsets("all")
    return {
        choice: functools.partial(_listed, toolsets.tools_for, sets)
        for choice, sets in names.items()
    }


def _listed(
    tools_for: Callable[[str, frozenset[str]], list[ToolSpec]], sets: frozenset[str], role: str
) -> list[ToolSpec]:
    return tools_for(role, sets)


def measure(specs: Iterable[ToolSpec]) -> dict[str, int]:
    """Tools, bytes, description characters and estimated tokens of one ``tools/list``."""
    specs = list(specs)
    try:  # the output schemas travel in the list too (issue 18's structured results)
        from letswork.channel.structured import definitions
    except ImportError:  # a checkout from before them
        tools = [tool_definition(s) for s in specs]
    else:
        tools = definitions(specs)
    result = types.ListToolsResult(tools=tools)
    size = len(result.model_dump_json(by_alias=True, exclude_none=True).encode("utf-8"))
    return {
        "tools": len(specs),
        "bytes": size,
        "description_chars": sum(len(s.description) for s in specs),
        "tokens_est": round(size / BYTES_PER_TOKEN),
    }


def main() -> None:
    report = {
        choice: {role: measure(listing(role)) for role in ROLES}
        for choice, listing in _choices().items()
    }
    print(json.dumps(report, indent=2))


if __name__ == "__main__":
    main()
