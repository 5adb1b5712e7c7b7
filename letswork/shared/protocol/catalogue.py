"""The catalogue: every op and every event, assembled from the group modules.

:data:`OPS` maps an op name to its :class:`~letswork.shared.protocol.base.OpSpec` (argument
model, result model, roles allowed, error codes), :data:`EVENTS` maps an event name to its
:class:`~letswork.shared.protocol.base.EventSpec`. Both keep the order of the protocol
document, which the order of the group modules below gives (the events of ``files`` come after
those of ``changes`` and ``locks``). A new op or event goes in its group's module; this file
changes only for a new group.
"""

from __future__ import annotations

from collections.abc import Mapping
from types import MappingProxyType

from letswork.shared.errors import ErrorCode
from letswork.shared.protocol import (
    admin,
    changes,
    commands,
    files,
    locks,
    messages,
    presence,
    session,
    tasks,
    variables,
)
from letswork.shared.protocol.base import EventSpec, OpSpec

#: Codes any op can fail with (from the envelope, dispatch or transport), not repeated in
#: :attr:`OpSpec.errors` unless the op itself also raises them with a meaning of its own.
#: ``timeout`` and ``unavailable`` are produced by the channel, never sent by the hub.
COMMON_ERRORS: tuple[ErrorCode, ...] = (
    ErrorCode.INVALID,
    ErrorCode.UNKNOWN_OP,
    ErrorCode.TOO_LARGE,
    ErrorCode.FORBIDDEN,
    ErrorCode.NOT_ADMITTED,
    ErrorCode.RATE_LIMITED,
    ErrorCode.UNAVAILABLE,
    ErrorCode.TIMEOUT,
    ErrorCode.INTERNAL,
)

#: Every op, by name, in the order of the protocol document.
OPS: Mapping[str, OpSpec] = MappingProxyType(
    {
        spec.name: spec
        for group in (
            session,
            files,
            changes,
            locks,
            messages,
            tasks,
            variables,
            presence,
            admin,
            commands,
        )
        for spec in group.OPS
    }
)

#: Every event, by name, in the order of the protocol document.
EVENTS: Mapping[str, EventSpec] = MappingProxyType(
    {
        spec.name: spec
        for group in (
            session,
            changes,
            locks,
            files,
            messages,
            tasks,
            variables,
            presence,
            admin,
            commands,
        )
        for spec in group.EVENTS
    }
)
