"""Argument names other file tools use, answered with the name meant (issue 18, "Argument
errors name the right fields").

Models trained on other file servers send their names: the reference filesystem MCP server's
(``edit_file(path, edits=[{oldText, newText}], dryRun)``, ``move_file(source, destination)``,
``search_files(path, pattern, excludePatterns)``, ``read_text_file(path, head, tail)``,
``read_multiple_files(paths)``) and Claude Code's (``Read/Write/Edit(file_path, ...)``,
``MultiEdit(file_path, edits)``, ``Grep(pattern, path, glob, -i, head_limit, output_mode)``,
``Glob(pattern, path)``). The hub would refuse such a call as ``unknown field`` without saying
what was meant; :func:`argument_error` answers it in the channel, before anything is sent,
naming the argument to use instead. A name with no known meaning gets the tool's argument list.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from letswork.channel.tools.base import ToolSpec
from letswork.shared.protocol.catalogue import OPS
from letswork.shared.sanitize import clean_line

__all__ = ["ALIASES", "argument_error"]

#: Another server's argument name -> this project's candidates, first one the tool has wins
#: (``pattern`` is ``glob`` for find_files, as in the filesystem server's search_files).
ALIASES: Mapping[str, tuple[str, ...]] = {
    "file_path": ("path",),
    "filepath": ("path",),
    "filePath": ("path",),
    "file": ("path",),
    "filename": ("path",),
    "file_name": ("path",),
    "dir": ("path",),
    "directory": ("path",),
    "folder": ("path",),
    "source": ("path",),
    "src": ("path",),
    "old_path": ("path",),
    "destination": ("new_path",),
    "dest": ("new_path",),
    "target": ("new_path",),
    "to": ("new_path",),
    "newPath": ("new_path",),
    "new_file_path": ("new_path",),
    "oldText": ("old_string",),
    "old_text": ("old_string",),
    "oldString": ("old_string",),
    "old_str": ("old_string",),
    "search": ("old_string", "pattern"),
    "newText": ("new_string",),
    "new_text": ("new_string",),
    "newString": ("new_string",),
    "new_str": ("new_string",),
    "replace": ("new_string",),
    "replacement": ("new_string",),
    "replaceAll": ("replace_all",),
    "contents": ("content",),
    "text": ("content", "body"),
    "file_text": ("content",),
    "data": ("content",),
    "sha256": ("base_sha256",),
    "sha": ("base_sha256",),
    "baseSha256": ("base_sha256",),
    "expected_sha256": ("base_sha256",),
    "query": ("pattern",),
    "regexp": ("pattern",),
    "pattern": ("glob",),
    "include": ("glob",),
    "glob_pattern": ("glob",),
    "file_pattern": ("glob",),
    "head_limit": ("max_results", "limit"),
    "max_count": ("max_results",),
    "maxResults": ("max_results",),
    "limit": ("max_results",),
    "head": ("limit",),
    "line_offset": ("offset",),
    "start_line": ("offset",),
    "caseSensitive": ("case_sensitive",),
    "message": ("body",),
    "content": ("body",),
}

#: Names whose meaning takes more than a renamed field.
_SPECIAL: Mapping[str, str] = {
    "edits": "edit_file makes one replacement per call: send `old_string` and `new_string` "
    "(and `replace_all`) at the top level, one call per edit, in order",
    "dryRun": "there is no dry run: a guest's change is a proposal the host approves, and "
    "the result shows its diff",
    "paths": "give one `path` per call",
    "tail": "there is no tail: stat_file gives the line count, then read_file with `offset`",
    "excludePatterns": "there is no exclude list: narrow the search with `path` or `glob`",
    "output_mode": "the result is always `path:line: text` lines; find_files lists paths only",
    "multiline": "a pattern matches within one line",
    **dict.fromkeys(
        ("-i", "ignore_case", "ignoreCase", "case_insensitive"),
        "search_files ignores case unless `case_sensitive` is true",
    ),
}


def argument_error(spec: ToolSpec, arguments: Mapping[str, Any]) -> str | None:
    """The ``isError`` text for arguments ``spec``'s op does not take, or None when all are
    known (the hub still validates their values). Only the first 8 unknown names are shown,
    each clipped and cleaned (a model's text, but it may quote a peer's)."""
    if spec.op is None:
        return None
    known = set(OPS[spec.op].args.model_fields)
    if spec.follow is not None:  # taken by the channel itself (get_run's ``wait``)
        known.add(spec.follow.arg)
    unknown = [key for key in arguments if key not in known]
    if not unknown:
        return None
    shown = list(spec.input_schema()["properties"])
    parts: list[str] = []
    for key in unknown[:8]:
        name = clean_line(key, 64)
        meant = next((c for c in ALIASES.get(key, ()) if c in shown), None)
        if key in _SPECIAL:
            parts.append(f"`{name}`: {_SPECIAL[key]}")
        elif meant is not None:
            parts.append(f"`{name}` is `{meant}` here")
        else:
            parts.append(f"`{name}` is not an argument")
    takes = ", ".join(shown) or "no arguments"
    return (
        f"invalid: {spec.name} got arguments it does not take: {'; '.join(parts)}.\n"
        f"Next step: call {spec.name} again with its own arguments: {takes}."
    )
