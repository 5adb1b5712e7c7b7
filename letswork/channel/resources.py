"""Shared files as MCP resources (issue 18): ``letswork://file/{path}``.

Clients that let users @-mention resources (Claude Code, among others) list them with
``resources/list`` and read them with ``resources/read``. Both go through the hub exactly as the
file tools do (``find_files`` and ``read_file``), so the hub's sharing policy decides what is
listed and readable, and a guest sees nothing a tool would not show them. The hub's watcher
events (``file_changed``) feed ``notifications/resources/updated`` for the file and
``notifications/resources/list_changed`` when a file appears or goes away
(:mod:`letswork.channel.subscriptions` sends them in either protocol era).

A URI is :data:`PREFIX` followed by the project-relative path with ``/`` between folders and
each name percent-encoded (RFC 3986: a space is ``%20``). A read returns the file's text exactly
as stored, as ``read_file`` does, up to :data:`MAX_RESOURCE_CHARS`; the result's ``_meta`` says
whether it was cut and gives the file's ``sha256`` and ``total_lines``.
"""

from __future__ import annotations

import posixpath
from collections.abc import Awaitable, Callable, Mapping
from typing import Any
from urllib.parse import quote, unquote

import mcp_types as types
from mcp.server.context import ServerRequestContext
from mcp.shared.exceptions import MCPError

from letswork.shared.errors import LetsworkError, OpError
from letswork.shared.limits import MAX_RESULTS
from letswork.shared.paging import cut_page
from letswork.shared.protocol.files import FindFilesResult, ReadFileResult
from letswork.shared.sanitize import clean_line

__all__ = [
    "MAX_RESOURCE_CHARS",
    "PREFIX",
    "TEMPLATE",
    "FileResources",
    "file_uri",
    "path_of",
]

#: Every shared file's URI starts with this.
PREFIX = "letswork://file/"
#: The resource template clients fill in.
TEMPLATE = PREFIX + "{path}"
#: Characters of a file's text one ``resources/read`` returns at most (the read tool's page).
MAX_RESOURCE_CHARS = 60_000
#: The error code of a resource that does not exist or is not shared (the spec's).
RESOURCE_NOT_FOUND = -32002

#: ``(op, args, sends) -> the op's result model``, ``sends`` being arguments an older hub may
#: not know; raises ``LetsworkError`` as the hub link does.
HubCall = Callable[[str, dict[str, Any], Mapping[str, Any]], Awaitable[Any]]


def file_uri(path: str) -> str:
    """The URI of the shared file at project-relative ``path``."""
    return PREFIX + quote(path, safe="/")


def path_of(uri: str) -> str:
    """The project-relative path ``uri`` names.

    Raises:
        MCPError: ``uri`` is not a ``letswork://file/`` URI, or names no file path (empty,
            ``.``/``..`` parts, a leading ``/``, NUL, bytes that are not UTF-8). The hub
            checks the path again, under its sharing policy.
    """
    if not uri.startswith(PREFIX):
        raise MCPError(code=RESOURCE_NOT_FOUND, message=f"not a letswork file URI; use {TEMPLATE}")
    try:
        path = unquote(uri[len(PREFIX) :], errors="strict")
    except UnicodeDecodeError:
        path = ""  # percent-encoded bytes that are not UTF-8 name no path
    parts = path.split("/")
    if not path or any(part in ("", ".", "..") for part in parts) or "\x00" in path:
        raise MCPError(
            code=RESOURCE_NOT_FOUND,
            message=f"{clean_line(uri, 200)!r} names no file; use {TEMPLATE} with a path",
        )
    return path


class FileResources:
    """``resources/list``, ``resources/templates/list`` and ``resources/read`` through the hub.

    Args:
        call: sends one op to the hub (the channel's link).
    """

    def __init__(self, call: HubCall) -> None:
        self._call = call

    async def handle_list(
        self, ctx: ServerRequestContext[Any, Any], params: types.PaginatedRequestParams | None
    ) -> types.ListResourcesResult:
        """Up to ``MAX_RESULTS`` shared files, in the hub's order; an unreachable hub lists
        none (the template still works once it is back)."""
        try:
            found = await self._call("find_files", {"glob": "*", "max_results": MAX_RESULTS}, {})
        except LetsworkError:
            return types.ListResourcesResult(resources=[])
        assert isinstance(found, FindFilesResult)
        return types.ListResourcesResult(
            resources=[
                types.Resource(
                    uri=file_uri(path),
                    name=clean_line(path, 300),
                    title=clean_line(posixpath.basename(path), 200),
                    mime_type="text/plain",
                )
                for path in found.paths
            ]
        )

    async def handle_templates(
        self, ctx: ServerRequestContext[Any, Any], params: types.PaginatedRequestParams | None
    ) -> types.ListResourceTemplatesResult:
        return types.ListResourceTemplatesResult(
            resource_templates=[
                types.ResourceTemplate(
                    uri_template=TEMPLATE,
                    name="shared file",
                    title="A file of the shared project",
                    description="A file of the project shared through letswork, by its path "
                    "from the project root (folders separated by /).",
                    mime_type="text/plain",
                )
            ]
        )

    async def handle_read(
        self, ctx: ServerRequestContext[Any, Any], params: types.ReadResourceRequestParams
    ) -> types.ReadResourceResult:
        """The file's text as stored, up to :data:`MAX_RESOURCE_CHARS`.

        Raises:
            MCPError: not a file URI, or the hub refused (not shared, not found, binary: the
                hub's reason, cleaned), or the hub is unreachable.
        """
        uri = str(params.uri)
        path = path_of(uri)
        try:
            page = await self._call("read_file", {"path": path}, {"max_chars": MAX_RESOURCE_CHARS})
        except OpError as exc:
            raise MCPError(
                code=RESOURCE_NOT_FOUND, message=clean_line(f"{exc.code.value}: {exc.message}", 500)
            ) from None
        except LetsworkError as exc:
            raise MCPError(
                code=types.INTERNAL_ERROR,
                message=clean_line(f"the letswork hub is unreachable: {exc.message}", 500),
            ) from None
        assert isinstance(page, ReadFileResult)
        text, lines, line_cut = page.text, page.lines, bool(page.line_cut)
        whole = cut_page(text, MAX_RESOURCE_CHARS)  # a hub older than max_chars sends it all
        if whole is not None:
            text, lines, line_cut = whole
        cut = lines < page.total_lines or line_cut
        return types.ReadResourceResult(
            contents=[
                types.TextResourceContents(
                    uri=uri,
                    mime_type="text/plain",
                    text=text,
                    _meta={
                        "sha256": page.sha256,
                        "total_lines": page.total_lines,
                        "lines": lines,
                        "truncated": cut,
                    },
                )
            ]
        )
