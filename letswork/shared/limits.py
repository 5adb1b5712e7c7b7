"""Every limit of design section 9 as a named constant, plus the few the design implies.

The hub and channel read these through :class:`Limits`, so a CLI flag can override a value for
one run (``letswork start --max-file-size``) without touching the constants.
"""

from __future__ import annotations

import dataclasses

KiB = 1024
MiB = 1024 * KiB

#: Largest WebSocket frame (and so record) either side accepts, in bytes.
MAX_FRAME_BYTES = 4 * MiB
#: Largest file a read returns or a write/edit may produce, in bytes.
MAX_FILE_BYTES = 1 * MiB
#: Highest value ``--max-file-size`` may set; the catalogue's content fields allow this much,
#: and the hub enforces the configured (usually lower) limit with ``too_large``.
MAX_FILE_BYTES_CEILING = 3 * MiB
#: Peers connected at once, host's own channels included.
MAX_PEERS = 8
#: Per-peer token bucket: sustained requests per second.
RATE_PER_SECOND = 50.0
#: Per-peer token bucket: burst size (bucket capacity).
RATE_BURST = 200
#: Failed handshakes allowed per source per minute (``CF-Connecting-IP`` behind the tunnel).
HANDSHAKE_FAILS_PER_SOURCE_PER_MINUTE = 5
#: Failed handshakes allowed per minute across all sources.
HANDSHAKE_FAILS_TOTAL_PER_MINUTE = 60
#: The handshake must finish within this many seconds of the TCP accept.
HANDSHAKE_TIMEOUT_SECONDS = 10.0
#: Pending changes per guest.
MAX_PENDING_PER_GUEST = 100
#: Bytes of proposed content pending per guest.
MAX_PENDING_BYTES_PER_GUEST = 64 * MiB
#: A chat message body, in bytes of UTF-8.
MAX_CHAT_BYTES = 16 * KiB
#: A lock expires this many seconds after it was taken (or last refreshed).
LOCK_EXPIRY_SECONDS = 30 * 60.0
#: WebSocket ping interval; Cloudflare closes idle sockets after about 100 s.
PING_INTERVAL_SECONDS = 20.0
#: A request the hub has not answered in this many seconds fails with ``timeout``.
REQUEST_TIMEOUT_SECONDS = 30.0

#: Deepest JSON nesting accepted in an application message.
MAX_JSON_DEPTH = 16
#: Longest relative path, in characters.
MAX_PATH_CHARS = 1024
#: Longest single path component, in bytes of UTF-8 (the common filesystem limit).
MAX_NAME_BYTES = 255
#: Display names: 1 to 32 characters from ``[A-Za-z0-9 ._-]``.
MAX_DISPLAY_NAME_CHARS = 32
#: Search and list results returned by one call.
MAX_RESULTS = 1000
#: Longest short free-text field (reasons, labels, regex patterns).
MAX_SHORT_TEXT_CHARS = 1024

# The collaboration layer (messages, task board, shared variables, presence; issue 6).
#: File references one message may carry.
MAX_MESSAGE_REFS = 5
#: Lines of one file reference the hub attaches; a longer range is cut (``truncated``).
MAX_REF_LINES = 200
#: Bytes of UTF-8 text the hub attaches for one file reference; longer text is cut.
MAX_REF_TEXT_BYTES = 8 * KiB
#: Messages one ``get_messages`` call returns at most.
MAX_MESSAGES_PER_PAGE = 200
#: Rough byte budget of one ``get_messages``, ``get_var`` or ``board`` result, well inside a frame.
MAX_LISTING_BYTES = 2 * MiB
#: Tasks on the board, all statuses together.
MAX_TASKS = 500
#: Tasks one ``plan`` call creates at most.
MAX_PLAN_TASKS = 100
#: Dependencies of one task.
MAX_TASK_DEPS = 50
#: A task title, in characters.
MAX_TASK_TITLE_CHARS = 200
#: A task description, in characters.
MAX_TASK_DESCRIPTION_CHARS = 4000
#: A task's result note, in characters.
MAX_TASK_NOTE_CHARS = 2000
#: Characters of a description or note shown per task on the ``board`` (``get_task`` has all).
MAX_BOARD_TEXT_CHARS = 280
#: Shared variables.
MAX_VARS = 500
#: A shared variable's key, in characters (``[A-Za-z0-9_.:-]``).
MAX_VAR_KEY_CHARS = 128
#: A shared variable's value, in bytes of UTF-8.
MAX_VAR_VALUE_BYTES = 16 * KiB
#: A peer whose last request is older than this is ``idle`` (``ping`` does not count).
IDLE_AFTER_SECONDS = 60.0
#: A peer idle for longer than this is ``away``.
AWAY_AFTER_SECONDS = 15 * 60.0
#: MCP server names one capability card may list.
MAX_CARD_SERVERS = 32
#: Audit entries one ``activity_log`` call returns at most.
MAX_ACTIVITY_ENTRIES = 500


# Strangers before the handshake (issue 13, item 4): a connection that has not proved a
# credential costs the hub little, and only so many of them are held at once.
#: Largest WebSocket frame accepted until the ClientHello is authenticated, in bytes: the
#: ClientHello's size (``crypto.CLIENT_HELLO_LEN``; the ClientFinished is 34).
MAX_HANDSHAKE_FRAME_BYTES = 98
#: Bytes of a TCP connection's HTTP upgrade request (request line and headers; cloudflared's
#: are about 1 KiB); more closes the connection.
MAX_UPGRADE_REQUEST_BYTES = 16 * KiB
#: TCP connections still in their handshake (opening handshake, ClientHello, ClientFinished)
#: held at once; one more is closed at accept. The host's tools use the Unix socket and are
#: not counted.
MAX_HANDSHAKES_IN_PROGRESS = 64
#: Handshakes in progress per source (``CF-Connecting-IP`` behind the tunnel, else the TCP
#: peer address, so every local process shares one); one more is refused with HTTP 503.
MAX_HANDSHAKES_IN_PROGRESS_PER_SOURCE = 8


@dataclasses.dataclass(frozen=True)
class Limits:
    """The limits in force for one hub or channel; defaults are the module constants."""

    max_frame_bytes: int = MAX_FRAME_BYTES
    max_file_bytes: int = MAX_FILE_BYTES
    max_peers: int = MAX_PEERS
    rate_per_second: float = RATE_PER_SECOND
    rate_burst: int = RATE_BURST
    handshake_fails_per_source_per_minute: int = HANDSHAKE_FAILS_PER_SOURCE_PER_MINUTE
    handshake_fails_total_per_minute: int = HANDSHAKE_FAILS_TOTAL_PER_MINUTE
    handshake_timeout_seconds: float = HANDSHAKE_TIMEOUT_SECONDS
    max_handshakes_in_progress: int = MAX_HANDSHAKES_IN_PROGRESS
    max_handshakes_in_progress_per_source: int = MAX_HANDSHAKES_IN_PROGRESS_PER_SOURCE
    max_pending_per_guest: int = MAX_PENDING_PER_GUEST
    max_pending_bytes_per_guest: int = MAX_PENDING_BYTES_PER_GUEST
    max_chat_bytes: int = MAX_CHAT_BYTES
    lock_expiry_seconds: float = LOCK_EXPIRY_SECONDS
    ping_interval_seconds: float = PING_INTERVAL_SECONDS
    request_timeout_seconds: float = REQUEST_TIMEOUT_SECONDS

    def __post_init__(self) -> None:
        for field in dataclasses.fields(self):
            value = getattr(self, field.name)
            if value <= 0:
                raise ValueError(f"limit {field.name} must be positive, got {value!r}")
        if self.max_file_bytes + 64 * KiB > self.max_frame_bytes:
            raise ValueError("max_file_bytes must leave 64 KiB of room inside max_frame_bytes")
