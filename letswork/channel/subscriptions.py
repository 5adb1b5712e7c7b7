"""Change notifications to the MCP client, in both protocol eras (issue 18).

A client on a handshake-era protocol (2025-11-25 and before) gets
``notifications/tools/list_changed``, ``notifications/resources/list_changed`` and, for the
URIs it asked for with ``resources/subscribe``, ``notifications/resources/updated`` on the
connection itself. A client on 2026-07-28 gets them only on the ``subscriptions/listen``
streams it opened: the SDK drops a bare copy on the connection (``NotifyOnlyOutbound`` in
``mcp/server/connection.py``), because that era forbids a change notification nobody asked
for. :class:`Subscriptions` sends each change both ways: on the SDK's subscription bus (the
listen streams filter it by what each one asked for) and as the handshake-era notification
(which the SDK drops at 2026-07-28), so the channel need not know which era it serves.
"""

from __future__ import annotations

import logging
from typing import Any

import mcp_types as types
from mcp.server.context import ServerRequestContext
from mcp.server.session import ServerSession
from mcp.server.subscriptions import (
    InMemorySubscriptionBus,
    ListenHandler,
    ResourcesListChanged,
    ResourceUpdated,
    ToolsListChanged,
)
from mcp.shared.exceptions import MCPError

from letswork.channel.resources import file_uri, path_of

__all__ = [
    "MAX_LISTEN_BACKLOG",
    "MAX_LISTEN_STREAMS",
    "MAX_SUBSCRIBED_URIS",
    "Subscriptions",
]

log = logging.getLogger("letswork.channel")

#: ``subscriptions/listen`` streams open at once; one client needs one or two.
MAX_LISTEN_STREAMS = 16
#: Events waiting on one listen stream whose client stopped reading; past it the SDK ends the
#: stream (the client listens again and refetches: events are "this changed" triggers).
MAX_LISTEN_BACKLOG = 256
#: URIs one handshake-era client may hold ``resources/subscribe`` on.
MAX_SUBSCRIBED_URIS = 1024


class Subscriptions:
    """The channel's side of change notifications: the listen handler, the handshake-era
    ``resources/subscribe`` set, and one method per kind of change."""

    def __init__(self) -> None:
        self.bus = InMemorySubscriptionBus()
        self.listen = ListenHandler(
            self.bus,
            max_subscriptions=MAX_LISTEN_STREAMS,
            max_buffered_events=MAX_LISTEN_BACKLOG,
        )
        #: The file URI as the channel spells it (:func:`file_uri`) -> the spellings the client
        #: subscribed with (another percent-encoding of the same path, say): each is told.
        self._subscribed: dict[str, set[str]] = {}

    # ------------------------------------------------------------------ the client's requests

    async def handle_subscribe(
        self, ctx: ServerRequestContext[Any, Any], params: types.SubscribeRequestParams
    ) -> types.EmptyResult:
        """``resources/subscribe`` (handshake era).

        Raises:
            MCPError: the client already holds :data:`MAX_SUBSCRIBED_URIS` subscriptions.
        """
        uri = str(params.uri)
        spellings = self._subscribed.get(_canonical(uri), set())
        held = sum(len(each) for each in self._subscribed.values())
        if uri not in spellings and held >= MAX_SUBSCRIBED_URIS:
            raise MCPError(
                code=types.INVALID_PARAMS,
                message=f"at most {MAX_SUBSCRIBED_URIS} resources can be subscribed at once; "
                "unsubscribe from some first",
            )
        self._subscribed.setdefault(_canonical(uri), set()).add(uri)
        return types.EmptyResult()

    async def handle_unsubscribe(
        self, ctx: ServerRequestContext[Any, Any], params: types.UnsubscribeRequestParams
    ) -> types.EmptyResult:
        """``resources/unsubscribe`` (handshake era)."""
        uri = str(params.uri)
        canonical = _canonical(uri)
        spellings = self._subscribed.get(canonical, set())
        spellings.discard(uri)
        if not spellings:
            self._subscribed.pop(canonical, None)
        return types.EmptyResult()

    def close(self) -> None:
        """End every listen stream gracefully (the channel is stopping)."""
        self.listen.close()

    # ------------------------------------------------------------------ changes

    async def tools_changed(self, session: ServerSession | None) -> None:
        """The tool list changed (the guest's role became known)."""
        await self.bus.publish(ToolsListChanged())
        if session is not None:
            await session.send_tool_list_changed()

    async def resource_updated(self, session: ServerSession | None, uri: str) -> None:
        """The resource at ``uri`` changed: to listen streams that asked for it, and to a
        handshake-era client that subscribed to it."""
        await self.bus.publish(ResourceUpdated(uri=uri))
        if session is not None:
            for spelling in sorted(self._subscribed.get(_canonical(uri), ())):
                await session.send_resource_updated(spelling)

    async def resources_changed(self, session: ServerSession | None) -> None:
        """A resource appeared or went away."""
        await self.bus.publish(ResourcesListChanged())
        if session is not None:
            await session.send_resource_list_changed()


def _canonical(uri: str) -> str:
    """``uri`` spelled as the channel spells a file's URI (percent-encoding as
    :func:`file_uri` does it), or as it is when it names no file."""
    try:
        return file_uri(path_of(uri))
    except MCPError:
        return uri
