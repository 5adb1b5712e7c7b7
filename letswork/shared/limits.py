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
#: Largest text file letswork reads (in pages), searches and edits, in bytes (issue 16):
#: ``MAX_FILE_BYTES`` caps what crosses the wire (a page, a whole-file read or write), not
#: the files.
MAX_TEXT_FILE_BYTES = 64 * MiB
#: Files a ``search_files`` result names as skipped for being over ``MAX_TEXT_FILE_BYTES``
#: (path and size each); it counts the rest (``skipped_count``).
MAX_SEARCH_SKIPPED_NAMED = 20
#: Highest value ``--max-file-size`` may set; the catalogue's content fields allow this much,
#: and the hub enforces the configured (usually lower) limit with ``too_large``.
MAX_FILE_BYTES_CEILING = 3 * MiB
#: Largest ``max_chars`` of a ``read_file`` page: no page can hold more characters than this.
MAX_PAGE_CHARS = MAX_FILE_BYTES_CEILING
#: Longest diff the reply to a write, edit, delete or move carries (characters): a proposer's
#: ``diff_head`` may ask for less, never more; ``get_change`` has the whole diff.
MAX_REPLY_DIFF_CHARS = 64 * KiB
#: Admitted guests connected at once (``--max-guests``); the host's connections and guests
#: awaiting admission (see ``MAX_WAITING_TOTAL``) do not count.
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
#: Bytes of proposed content and diffs (as stored) pending per guest.
MAX_PENDING_BYTES_PER_GUEST = 64 * MiB
#: A chat message body, in bytes of UTF-8.
MAX_CHAT_BYTES = 16 * KiB
#: A lock expires this many seconds after it was taken (or last refreshed).
LOCK_EXPIRY_SECONDS = 30 * 60.0
#: Manual locks one holder may have at once: a guest's outlive its connection (issue 16), and
#: every tick and decision walks the lock table.
MAX_LOCKS_PER_HOLDER = 500
#: WebSocket ping interval; Cloudflare closes idle sockets after about 100 s.
PING_INTERVAL_SECONDS = 20.0
#: A request the hub has not answered in this many seconds fails with ``timeout``.
REQUEST_TIMEOUT_SECONDS = 30.0
# What the hub keeps or runs because peers read and search (issue 15); each module
# re-exports its own.
#: What the page cache (``hub/workspace/pages.py``) may hold in all, estimated per entry, in
#: bytes.
PAGE_CACHE_BYTES = 8 * MiB
#: Largest number of file versions the page cache keeps, whatever their size.
PAGE_CACHE_ENTRIES = 4096
#: Most entries (files, folders, symlinks) the folder's index holds; past it the index turns
#: off and requests walk.
MAX_INDEX_ENTRIES = 400_000
#: Most bytes of relative paths (UTF-8, summed over its entries) the folder's index holds;
#: past it the index turns off and requests walk. The entry cap alone let 400,000 names of
#: 250 bytes make some 176 MiB, and ``find_files``'s file lists hold every path whole (one
#: for guests, one for the host). The bench's 100,000 files of real sdists (132,711 entries)
#: hold 14.4 MiB, 114 bytes an entry: 400,000 such entries fit.
MAX_INDEX_PATH_BYTES = 64 * MiB
#: ripgrep processes the whole hub runs at once (guests' and the host's searches together).
MAX_RG_PROCESSES = 4
#: A request unanswered this long makes the client ping the hub (issue 15): a dead TCP link
#: (a closed laptop lid, a Wi-Fi change) is then noticed in STALL_PING_SECONDS +
#: PONG_TIMEOUT_SECONDS = 8 s, not after the keepalive's 20-40 s. A busy hub still answers a
#: ping at once: WebSocket control frames do not wait for the request.
STALL_PING_SECONDS = 3.0
#: A ping the hub has not answered in this many seconds drops the connection.
PONG_TIMEOUT_SECONDS = 5.0
#: While an outage is younger than this, reconnect attempts are at most
#: FAST_RECONNECT_MAX_DELAY_SECONDS apart, so a hub that is back (a restart) is reached
#: within a second; after it the backoff grows to its ceiling.
FAST_RECONNECT_WINDOW_SECONDS = 30.0
#: See FAST_RECONNECT_WINDOW_SECONDS.
FAST_RECONNECT_MAX_DELAY_SECONDS = 1.0

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

# What a hub can make the client hold (issue 13, item 11).
#: Channel notifications queued for the MCP client at once; a hub's events beyond this, while
#: the client is not reading, are kept only in the inbox that get_notifications reads.
MAX_QUEUED_PUSHES = 1000


# Admission (issue 13, item 6): guests awaiting admission live in memory only, under their own
# caps, and never count towards ``--max-guests`` (admitted guests only).
#: Guests awaiting admission at once through one invite; more get ``quota_exceeded``.
MAX_WAITING_PER_INVITE = 2
#: Guests awaiting admission at once, all invites together; more get ``quota_exceeded``.
MAX_WAITING_TOTAL = 8
#: After ``deny``, the invite cannot knock again for this many seconds (hello gets
#: ``forbidden`` with ``retry_after``); guests it already admitted are not affected.
DENY_COOLDOWN_SECONDS = 10 * 60.0
#: Hellos that may wait for admission through one invite per minute (and its burst); more get
#: ``rate_limited``: a knock loop cannot flood the host with ``awaiting_admission`` events.
KNOCKS_PER_INVITE_PER_MINUTE = 10
#: A connection past the handshake must have its ``hello`` accepted within this many seconds
#: (close 4408): it holds memory and counts against no cap until then.
HELLO_TIMEOUT_SECONDS = 10.0
#: Stored guest identities (rows) per invite. Admitting one more forgets the oldest offline
#: identity of that invite with no pending change (its resume credential stops working).
MAX_GUESTS_PER_INVITE = 32
# Invites and identities (issue 16). Only the host makes invites; these bound what a mistake
# (or a script) of the host makes the hub store, and so the identities the invites admit.
#: ``--uses`` of one invite at most (each use stores one identity; the invite keeps
#: ``MAX_GUESTS_PER_INVITE`` of them).
MAX_INVITE_USES = MAX_GUESTS_PER_INVITE
#: ``--expires`` of one invite at most, in seconds (30 days).
MAX_INVITE_EXPIRY_SECONDS = 30 * 24 * 3600
#: Invites that are live at once (not revoked, not expired, uses left); one more is refused
#: with ``quota_exceeded`` until the host revokes some.
MAX_LIVE_INVITES = 128
#: Renames (``set_display_name``) per identity per minute, and its burst: each rewrites the
#: name stored with the identity's changes, messages, receipts and tasks (up to the caps'
#: thousands of rows), so a rename loop must not keep the hub's store busy.
RENAMES_PER_MINUTE = 10
#: Known people who are offline that ``list_peers`` lists (the most recently seen first).
MAX_OFFLINE_LISTED = 64

# -- approvals that merge (issue 17, part 2) ------------------------------------------------------
#: The largest base text a pending write or edit keeps for a three-way merge at approval
#: (bytes of UTF-8 before compression). A change to a larger file keeps none: approving it
#: after the file moved on is a ``conflict``, as before merges. What is kept (compressed,
#: ~3-4x smaller for source) counts in the pending-bytes caps like content and diff.
MAX_MERGE_BASE_BYTES = 4 * MiB
#: Conflicting hunks kept and shown for one merge (the count says how many there were).
MAX_MERGE_HUNKS = 50
#: Characters of the base and of the current text that ``get_change`` with ``merge`` shows.
MAX_MERGE_VIEW_CHARS = 64 * 1024
#: difflib's steps (as ``MAX_DIFF_STEPS`` counts them) for each of a merge's two matches;
#: past them it aligns only the common head and tail (more conflicts, never a wrong merge).
#: 2 x 10^6 steps is ~1 s: 20,000 lines of 200 recurring values took 9 s unbounded.
MAX_MERGE_DIFF_STEPS = 2_000_000

# What a peer can make the hub store in state.db (issue 13, item 8). Every table a peer grows
# is either capped (over the cap is refused with quota_exceeded and a next step) or a ring
# (oldest pruned first), per peer and in total, in rows and bytes. docs/security.md has the
# table of caps and the worst case each allows. Pruning runs in the request's own transaction,
# by indexed deletes against running totals kept by triggers (schema 4), never by a scan.
#: Bytes one message may take in state.db: body plus its file references as stored (JSON);
#: a message whose references escape to more is refused (``too_large``): reference fewer lines.
MAX_MESSAGE_STORED_BYTES = 128 * KiB
#: Messages kept per sender; beyond it the sender's own oldest are pruned (with their receipts).
MAX_MESSAGES_PER_SENDER = 2_000
#: Bytes of messages kept per sender (body + stored references); its oldest are pruned first.
MAX_MESSAGE_BYTES_PER_SENDER = 16 * MiB
#: Messages of all guests together; beyond it the oldest guest's message is pruned. The host's
#: own messages have only the per-sender caps, so guests cannot push them out.
MAX_MESSAGES_TOTAL = 10_000
#: Bytes of messages of all guests together.
MAX_MESSAGE_BYTES_TOTAL = 64 * MiB
#: Audit (activity log) entries kept per guest: its own oldest are pruned first, so one guest
#: cannot push the host's or another guest's history out of the log.
MAX_AUDIT_ENTRIES_PER_GUEST = 10_000
#: Bytes of audit entries (actor, kind, path, detail) kept per guest.
MAX_AUDIT_BYTES_PER_GUEST = 8 * MiB
#: Audit entries of all guests together (a ring: the oldest guest entry goes first). The host's
#: own entries are a separate ring of the same size, which guests cannot touch.
MAX_AUDIT_ENTRIES_TOTAL = 50_000
#: Bytes of audit entries of all guests together (and, separately, of the host).
MAX_AUDIT_BYTES_TOTAL = 32 * MiB
#: Pending changes of all guests together; one more is refused until the host decides some.
MAX_PENDING_TOTAL = 400
#: Bytes of proposed content and diffs pending, all guests together.
MAX_PENDING_BYTES_TOTAL = 256 * MiB
#: A change whose content and diff together are over this many bytes keeps them in the blobs
#: file (schema 7), written and read by worker threads: SQLite copies a blob whole, ~4-15 ms a
#: MiB, which on the event loop stalled every peer (issue 15). At most this much is copied on
#: the loop per change; a listing of pending changes shows no diff for the others.
MAX_INLINE_CHANGE_BYTES = 1 * MiB
#: Decided changes (applied, rejected, conflict) that keep their content and diff; older ones
#: keep only their summary (``get_change`` says ``data_pruned``; the diff is gone).
MAX_DECIDED_WITH_DATA = 100
#: Bytes of content and diff kept for decided changes, all authors together.
MAX_DECIDED_DATA_BYTES = 64 * MiB
#: Decided changes remembered per author (summaries); the author's oldest are deleted first.
MAX_DECIDED_PER_AUTHOR = 2_000
#: Decided changes remembered in total.
MAX_DECIDED_TOTAL = 10_000

# Guests cannot widen what guests see (issue 13, item 2): the hub keeps the host's version of
# every ignore file whose version on disk a guest's change wrote (schema 5). Rows grow only
# with changes the host approved (ignore files are sensitive paths), and belong to a file, not
# to a guest, so these caps are totals. Over either, applying one more such change is refused
# (quota_exceeded) until the host takes some ignore files back by writing them itself.
#: Ignore files whose guest-written version is on record at once.
MAX_GUEST_IGNORE_FILES = 200
#: Bytes of the host's versions kept for them (each is read up to MAX_FILE_BYTES).
MAX_GUEST_IGNORE_BYTES = 16 * MiB


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

# Work off the event loop (issue 13, item 3): searches, walks, hashes and diffs run in worker
# threads; the loop only routes.
#: Seconds a ``search_files`` (or the walk of a ``find_files``) may run; then it stops and its
#: result says ``cut_short`` (``truncated`` for ``find_files``). Well under the client's
#: REQUEST_TIMEOUT_SECONDS, so the partial answer arrives.
SEARCH_DEADLINE_SECONDS = 10.0
#: Largest compiled regex a search accepts, in RE2 instructions (``(.|.)*#`` is 14,
#: ``\w{100}`` about 800). RE2's time is linear in the text, times the program's size where its
#: DFA gives up on crafted text: ``a[ab]{999}c`` (1,005) took 18 s per MiB of random a/b.
MAX_REGEX_PROGRAM_SIZE = 1000
#: Memory RE2 may use for one search's regex: its program and its DFA cache. RE2 builds a
#: program until it reaches about 2/3 of this, holding the GIL, before it refuses it: at
#: RE2's default of 8 MiB, ``(?i)\pL{1000}`` took 60-80 ms to refuse, a stall of the event
#: loop per request; at 1 MiB, 5 ms. Programs under MAX_REGEX_PROGRAM_SIZE need far less.
MAX_REGEX_MEMORY_BYTES = 1 * MiB
#: Work one diff may take in difflib's matcher, counted as the positions of a line in the new
#: text that it may scan for each old line: an upper bound of its time (about 1-2 s here). Past
#: it the diff is one hunk from the first changed line to the last: still every change, just
#: not the smallest diff. A 1 MiB file with every tenth line changed took 10^8 steps and 15 s
#: in difflib; a change of a few lines to it, 2 x 10^5.
MAX_DIFF_STEPS = 10_000_000
#: Worker threads for searches and walks (``search_files``, ``find_files``, ``list_files``).
#: Their work is mostly Python holding the GIL, so a second thread added no throughput in
#: bench/search_load.py but doubled the event loop's wait for the GIL (ping p99 33 ms, not 18).
SEARCH_WORKERS = 1
#: Worker threads for the other file work (reads and their hashes, diffs of changes, quoted
#: lines of messages): never queued behind searches, so a flood of searches cannot stall them.
FILE_WORKERS = 2
#: Worker threads for the host's own file work, searches included: a guest that keeps the
#: search worker busy (a 10 s search of a large tree, back to back) or the file workers (large
#: diffs) never delays the host's listings, searches, reads and approvals.
HOST_WORKERS = 2
#: Requests of one peer read and waiting behind its running request; one more is refused at
#: once with ``rate_limited``. Bounds the decoded requests (up to a frame each) a peer can
#: make the hub hold, as the WebSocket layer's own queue (``max_queue=64`` frames) does; an
#: assistant may well make 20 calls at once. ``ping`` never waits behind them.
MAX_QUEUED_REQUESTS_PER_PEER = 64
#: Bytes of replies and events queued for one peer and not yet taken by its socket, past
#: which its next request waits: a peer that stops reading while it asks for 1 MiB files
#: would otherwise make the hub hold every answer (50 MiB a second at the rate limit).
MAX_UNSENT_REPLY_BYTES = 8 * MiB
#: Bytes queued for one peer and not taken by its socket (events, refusals and pings, which
#: never wait), past which the hub drops the connection: it is not reading.
MAX_UNSENT_BYTES_PER_PEER = 32 * MiB
#: Bytes of replies a guest is sent per request its rate limit allows, on average: at
#: RATE_PER_SECOND, 8 MiB a second (twice that at once); past it its next request waits.
#: Encoding a reply holds the GIL (5 ms per MiB of JSON) wherever it runs, so 8 viewers
#: reading a 1 MiB file at their request rate kept the event loop busy and the pings' p99
#: at 125 ms.
REPLY_BYTES_PER_REQUEST = 160 * KiB

# What the hub keeps of the events each identity was sent, so a channel that reconnects
# receives what it missed while it was down (issue 16; hub/eventlog.py).
#: Events an identity's log keeps; past it the oldest go, and a reconnecting channel is told
#: how many it lost.
MAX_EVENT_LOG_ENTRIES = 1000
#: Bytes of event data (as compact JSON) an identity's log keeps; past it the oldest go.
MAX_EVENT_LOG_BYTES = 1 * MiB
#: Bytes of logged events replayed to one guest per second, after a burst of twice
#: MAX_EVENT_LOG_BYTES: a guest reconnecting in a loop cannot make the hub encode its whole
#: log each time (~74 ms of the event loop for a full log); past it the oldest are lost.
REPLAY_BYTES_PER_SECOND = 64 * KiB
#: Identities (the host and guests) with an event log; past it the log of the identity that
#: has been offline longest is dropped (its channel is told its events were lost).
MAX_EVENT_LOGS = 64


# Host-defined commands and their runs (issue 17, part 1; hub/runs.py, hub/commands.py).
#: Largest commands file (``letswork.toml``, or ``pyproject.toml`` holding ``[tool.letswork]``)
#: the hub reads, in bytes.
MAX_COMMANDS_FILE_BYTES = 256 * KiB
#: Commands one file may declare.
MAX_COMMANDS = 64
#: Characters of a command's name (``[A-Za-z0-9_.-]``).
MAX_COMMAND_NAME_CHARS = 64
#: Items of a command's ``run`` argv, of its ``args`` patterns, and of the arguments a peer
#: may add to one run.
MAX_COMMAND_ARGV = 64
#: Characters of one argv item, argument pattern, or argument a peer adds.
MAX_COMMAND_ARG_CHARS = 1024
#: Characters of the arguments a peer adds to one run, joined as a shell would quote them:
#: the host sees the whole argv before approving, so no display cuts it, and this bounds it.
MAX_RUN_ARGS_CHARS = 8 * KiB
#: Variables a command declares for its environment.
MAX_COMMAND_ENV = 32
#: Longest ``timeout`` a command may declare, and the one it has when it declares none.
MAX_RUN_TIMEOUT_SECONDS = 24 * 3600
DEFAULT_RUN_TIMEOUT_SECONDS = 600
#: Runs that may be running at once, over everyone (each guest: one at a time).
MAX_CONCURRENT_RUNS = 4
#: Runs waiting for the host's approval at once, over everyone (each guest: one).
MAX_PENDING_RUNS = 16
#: Runs the hub remembers (in memory); past this the oldest finished ones are forgotten.
MAX_RUNS_KEPT = 64
#: Bytes of a run's output kept from its start and from its end; what falls between is
#: counted and left out.
RUN_OUTPUT_HEAD_BYTES = 16 * KiB
RUN_OUTPUT_TAIL_BYTES = 112 * KiB
#: Characters of kept output one ``get_run`` page carries.
RUN_PAGE_CHARS = 16 * KiB
#: Longest ``wait`` of a channel's ``get_run`` (seconds): the channel waits for the run's
#: events this long before it asks the hub.
MAX_RUN_WAIT_SECONDS = 120
#: Events a channel keeps for one call that waits (``get_run``'s ``wait``) while the MCP client
#: reads its progress notifications: the oldest go first (a hostile hub's flood).
MAX_FOLLOWED_EVENTS = 64
#: Seconds between two ``run_updated`` events about a running run's output.
RUN_PROGRESS_EVENT_SECONDS = 1.0
#: Seconds between SIGTERM to a run's process group and SIGKILL.
RUN_KILL_GRACE_SECONDS = 2.0
#: Seconds a run's output is still read after its process ended and its group was killed
#: (a pipe held open by a process that escaped the group).
RUN_DRAIN_SECONDS = 2.0


@dataclasses.dataclass(frozen=True)
class Limits:
    """The limits in force for one hub or channel; defaults are the module constants."""

    max_frame_bytes: int = MAX_FRAME_BYTES
    max_file_bytes: int = MAX_FILE_BYTES
    max_text_file_bytes: int = MAX_TEXT_FILE_BYTES
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
    max_locks_per_holder: int = MAX_LOCKS_PER_HOLDER
    ping_interval_seconds: float = PING_INTERVAL_SECONDS
    request_timeout_seconds: float = REQUEST_TIMEOUT_SECONDS
    stall_ping_seconds: float = STALL_PING_SECONDS
    pong_timeout_seconds: float = PONG_TIMEOUT_SECONDS
    max_waiting_per_invite: int = MAX_WAITING_PER_INVITE
    max_waiting_total: int = MAX_WAITING_TOTAL
    deny_cooldown_seconds: float = DENY_COOLDOWN_SECONDS
    max_guests_per_invite: int = MAX_GUESTS_PER_INVITE
    renames_per_minute: int = RENAMES_PER_MINUTE
    # What state.db keeps (issue 13, item 8); tests shrink these to reach the caps quickly.
    max_message_stored_bytes: int = MAX_MESSAGE_STORED_BYTES
    max_messages_per_sender: int = MAX_MESSAGES_PER_SENDER
    max_message_bytes_per_sender: int = MAX_MESSAGE_BYTES_PER_SENDER
    max_messages_total: int = MAX_MESSAGES_TOTAL
    max_message_bytes_total: int = MAX_MESSAGE_BYTES_TOTAL
    max_audit_entries_per_guest: int = MAX_AUDIT_ENTRIES_PER_GUEST
    max_audit_bytes_per_guest: int = MAX_AUDIT_BYTES_PER_GUEST
    max_audit_entries_total: int = MAX_AUDIT_ENTRIES_TOTAL
    max_audit_bytes_total: int = MAX_AUDIT_BYTES_TOTAL
    max_pending_total: int = MAX_PENDING_TOTAL
    max_pending_bytes_total: int = MAX_PENDING_BYTES_TOTAL
    max_decided_with_data: int = MAX_DECIDED_WITH_DATA
    max_decided_data_bytes: int = MAX_DECIDED_DATA_BYTES
    max_decided_per_author: int = MAX_DECIDED_PER_AUTHOR
    max_decided_total: int = MAX_DECIDED_TOTAL
    max_guest_ignore_files: int = MAX_GUEST_IGNORE_FILES
    max_guest_ignore_bytes: int = MAX_GUEST_IGNORE_BYTES
    search_deadline_seconds: float = SEARCH_DEADLINE_SECONDS
    search_workers: int = SEARCH_WORKERS
    file_workers: int = FILE_WORKERS
    host_workers: int = HOST_WORKERS
    event_log_entries: int = MAX_EVENT_LOG_ENTRIES
    event_log_bytes: int = MAX_EVENT_LOG_BYTES
    event_logs: int = MAX_EVENT_LOGS
    replay_bytes_per_second: float = REPLAY_BYTES_PER_SECOND

    def __post_init__(self) -> None:
        for field in dataclasses.fields(self):
            value = getattr(self, field.name)
            if value <= 0:
                raise ValueError(f"limit {field.name} must be positive, got {value!r}")
        if self.max_file_bytes + 64 * KiB > self.max_frame_bytes:
            raise ValueError("max_file_bytes must leave 64 KiB of room inside max_frame_bytes")
        # The newest row is never pruned, so one row must fit every ring it is counted in.
        if not (
            self.max_message_stored_bytes
            <= self.max_message_bytes_per_sender
            <= self.max_message_bytes_total
        ):
            raise ValueError("message byte caps must grow from one message to sender to total")
        if self.max_messages_per_sender > self.max_messages_total:
            raise ValueError("max_messages_per_sender must not exceed max_messages_total")
        if (
            self.max_audit_entries_per_guest > self.max_audit_entries_total
            or self.max_audit_bytes_per_guest > self.max_audit_bytes_total
        ):
            raise ValueError("a guest's audit share must not exceed the audit total")
        if self.max_pending_per_guest > self.max_pending_total:
            raise ValueError("max_pending_per_guest must not exceed max_pending_total")
        if self.max_decided_per_author > self.max_decided_total:
            raise ValueError("max_decided_per_author must not exceed max_decided_total")
