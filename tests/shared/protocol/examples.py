"""One valid example of every op's ``args`` and ``result`` and of every event's ``data``, and
the records they are built from; the round-trip tests in ``test_wire.py`` fail for an op or
event missing here. Other tests build on them too (the channel's and the dashboard's hostile
text, the fake hub, the client fuzzer)."""

from __future__ import annotations

from typing import Any

from letswork.shared import limits

SHA = "ab" * 32
SHA2 = "cd" * 32
T = 1_700_000_000.25

LOCK: dict[str, Any] = {"path": "src/app.py", "holder": "alice", "expires_at": T + 1800}
CHANGE: dict[str, Any] = {
    "id": "c1",
    "author": "bob",
    "kind": "edit",
    "path": "src/app.py",
    "base_sha256": SHA,
    "new_sha256": SHA2,
    "status": "pending",
    "diff": "--- a/src/app.py\n+++ b/src/app.py\n@@ -1 +1 @@\n-a\n+b\n",
    "created_at": T,
    "size": 2,
}
DECIDED = {**CHANGE, "status": "applied", "decided_at": T + 5, "decided_by": "host"}
MESSAGE: dict[str, Any] = {
    "id": 7,
    "type": "finding",
    "sender": "alice",
    "to": "bob",
    "body": "the bug is in parse()",
    "refs": [
        {
            "path": "src/app.py",
            "start_line": 3,
            "end_line": 4,
            "text": "def parse():\n    pass\n",
            "sha256": SHA,
            "truncated": False,
        }
    ],
    "created_at": T,
    "receipts": [{"name": "bob", "status": "read", "delivered_at": T + 1, "read_at": T + 2}],
}
TASK: dict[str, Any] = {
    "id": 3,
    "title": "Write the parser",
    "description": "",
    "priority": "high",
    "status": "blocked",
    "assignee": "alice",
    "depends_on": [1, 2],
    "waiting_on": [2],
    "created_by": "host",
    "created_at": T,
    "updated_at": T + 5,
}
VAR: dict[str, Any] = {
    "key": "build.target",
    "value": "x86_64",
    "size": 6,
    "updated_by": "bob",
    "updated_at": T,
}
PEER: dict[str, Any] = {
    "peer_id": "p1",
    "name": "alice",
    "role": "editor",
    "state": "online",
    "trusted": False,
    "connected_at": T,
}

#: One valid ``args`` per op; the round-trip tests fail for an op missing here.
ARGS_EXAMPLES: dict[str, dict[str, Any]] = {
    "hello": {
        "name": "alice",
        "client": "claude-code 2.1",
        "events": {"log": "0a1b2c3d4e5f.01234567", "after": 41},
    },
    "ping": {},
    "status": {},
    "set_display_name": {"name": "Alice B."},
    "list_files": {"path": "src", "recursive": True, "depth": 3},
    "read_file": {"path": "src/café.py", "offset": 10, "limit": 200, "max_chars": 60_000},
    "search_files": {
        "pattern": "def .*\\(",
        "path": "src",
        "regex": True,
        "glob": "*.py",
        "case_sensitive": True,
        "max_results": limits.MAX_RESULTS,
    },
    "find_files": {"glob": "**/*.md", "max_results": 1},
    "stat_file": {"path": "src/café.py"},
    "write_file": {
        "path": "new.txt",
        "content": "héllo\n",
        "base_sha256": SHA,
        "diff_head": 16_000,
    },
    "edit_file": {
        "path": "a.py",
        "old_string": "x = 1",
        "new_string": "",
        "replace_all": True,
        "diff_head": 0,
    },
    "delete_file": {"path": "old.txt", "base_sha256": SHA},
    "move_file": {"path": "a.py", "new_path": "b/a.py"},
    "pending_changes": {"include_diff": False},
    "my_changes": {"status": "conflict"},
    "get_change": {"id": "c1", "merge": True},
    "approve_change": {"id": "c1", "merge": True, "current_sha256": SHA, "merged_sha256": SHA},
    "update_change": {"id": "c1", "old_string": "x = 1", "new_string": "x = 2", "diff_head": 0},
    "reject_change": {"id": "c1", "reason": "not now"},
    "lock_file": {"path": "a.py", "ttl_seconds": 60},
    "unlock_file": {"path": "a.py"},
    "force_unlock": {"path": "a.py"},
    "admit": {"name": "bob"},
    "deny": {"name": "bob", "reason": "who are you?"},
    "kick": {"name": "bob"},
    "trust": {"name": "bob"},
    "untrust": {"name": "bob"},
    "create_invite": {"role": "viewer", "label": "for carol"},
    "list_invites": {},
    "revoke_invite": {"label": "for carol"},
    "shutdown": {},
    "send_message": {
        "type": "question",
        "body": "which branch?",
        "to": "bob",
        "refs": [{"path": "src/app.py", "start_line": 1, "end_line": 9}],
    },
    "get_messages": {"since_id": 4, "sender": "bob", "type": "chat", "limit": 200},
    "mark_read": {"ids": [1, 2, 3]},
    "add_task": {"title": "Parser", "priority": "critical", "depends_on": [1]},
    "plan": {
        "tasks": [
            {"key": "a", "title": "First"},
            {"key": "b", "title": "Then", "assignee": "bob", "depends_on": ["a", 4]},
        ]
    },
    "claim_task": {"id": 3},
    "unclaim_task": {"id": 3},
    "update_task": {"id": 3, "status": "done", "note": "merged"},
    "board": {},
    "get_task": {"id": 3},
    "set_var": {"key": "build.target", "value": "x86_64"},
    "get_var": {"key": "*"},
    "delete_var": {"key": "build.target"},
    "list_peers": {},
    "publish_card": {"opt_in": True, "client": "claude-code", "mcp_servers": ["github"]},
    "activity_log": {"actor": "bob", "kind": "write_proposed", "since": T, "limit": 10},
    "leave": {},
    "list_commands": {},
    "run_command": {"name": "test", "args": ["tests/test_app.py", "-x"]},
    "get_run": {"id": 4, "page": 1},
    "list_runs": {},
    "cancel_run": {"id": 4},
    "approve_run": {"id": 4},
    "deny_run": {"id": 4, "reason": "not now"},
}

#: One valid ``result`` per op.
RESULT_EXAMPLES: dict[str, dict[str, Any]] = {
    "hello": {
        "peer_id": "p1",
        "name": "alice",
        "role": "editor",
        "state": "admitted",
        "resume_secret": "0f" * 32,
        "project": "demo",
        "hub_version": "0.1.0",
        "events_seq": 42,
        "events_log": "0a1b2c3d4e5f.01234567",
    },
    "ping": {"now": T},
    "status": {
        "project": "demo",
        "you": PEER,
        "peers": [PEER, {**PEER, "peer_id": "p2", "name": "host", "role": "host"}],
        "locks": [LOCK, {**LOCK, "path": "b.py", "change_id": "c1"}],
        "pending": 1,
    },
    "set_display_name": {"name": "Alice B."},
    "list_files": {
        "entries": [
            {"path": "src", "kind": "dir", "size": 0},
            {"path": "src/app.py", "kind": "file", "size": 120, "lock": LOCK},
            {"path": "link", "kind": "symlink", "size": 4},
        ],
        "truncated": False,
    },
    "read_file": {
        "path": "src/café.py",
        "text": "print('é')\n",
        "sha256": SHA,
        "offset": 0,
        "lines": 1,
        "total_lines": 1,
        "size": 13,
        "truncated": False,
    },
    "search_files": {
        "matches": [{"path": "a.py", "line": 3, "text": "def f():"}],
        "truncated": True,
        "files_scanned": 10,
    },
    "find_files": {"paths": ["README.md", "docs/x.md"], "truncated": False},
    "stat_file": {
        "path": "src/café.py",
        "size": 13,
        "sha256": SHA,
        "text": True,
        "total_lines": 1,
        "lock": LOCK,
    },
    # a reply to a request with ``diff_head``: the head of the diff and a summary of all of it
    "write_file": {
        "status": "pending",
        "change": {**CHANGE, "kind": "write"},
        "summary": {"lines_added": 120, "lines_removed": 1, "diff_lines": 124, "diff_cut": True},
    },
    "edit_file": {
        "status": "applied",
        "change": DECIDED,
        "summary": {"lines_added": 1, "lines_removed": 1, "diff_lines": 5, "diff_cut": False},
    },
    "delete_file": {"status": "pending", "change": {**CHANGE, "kind": "delete"}},
    "move_file": {
        "status": "pending",
        "change": {**CHANGE, "kind": "move", "new_path": "b/app.py"},
    },
    "pending_changes": {"changes": [CHANGE]},
    "my_changes": {"changes": []},
    # with ``merge``: the base, the current text, the proposer's diff and the conflict
    "get_change": {
        "change": {**DECIDED, "status": "conflict", "reason": "conflict in line 2"},
        "merge": {
            "outcome": "conflict",
            "current_sha256": SHA,
            "hunks": [{"start": 2, "end": 2, "base": "b\n", "current": "B\n", "proposed": "X\n"}],
            "conflicts": 1,
            "base": "a\nb\n",
            "current": "a\nB\n",
            "proposed_diff": "--- a/app.py\n+++ b/app.py\n@@ -2 +2 @@\n-b\n+X\n",
        },
    },
    # with ``merge``, the file moved on: a clean merge shown, nothing written yet
    "approve_change": {
        "change": CHANGE,
        "merge": {
            "outcome": "merged",
            "current_sha256": SHA,
            "merged_sha256": SHA,
            "diff": "--- a/app.py\n+++ b/app.py\n@@ -9 +9 @@\n-x\n+y\n",
        },
    },
    "update_change": {"status": "pending", "change": CHANGE},
    "reject_change": {"change": {**DECIDED, "status": "rejected", "reason": "not now"}},
    "lock_file": {"lock": LOCK},
    "unlock_file": {"released": True},
    "force_unlock": {"released": True, "holder": "bob"},
    "admit": {"name": "bob"},
    "deny": {"name": "bob"},
    "kick": {"name": "bob"},
    "trust": {"name": "bob", "trusted": True},
    "untrust": {"name": "bob", "trusted": False},
    "create_invite": {
        "invite_id": "9f" * 8,
        "code": "lw1-abcd-efgh",
        "role": "viewer",
        "label": "for carol",
    },
    "list_invites": {
        "invites": [
            {
                "invite_id": "9f" * 8,
                "role": "editor",
                "created_at": T,
                "revoked": False,
                "uses": 2,
            }
        ]
    },
    "revoke_invite": {"invite_id": "9f" * 8, "revoked": True, "disconnected": ["bob"]},
    "shutdown": {"stopping": True},
    "send_message": {"message": MESSAGE},
    "get_messages": {
        "messages": [MESSAGE, {**MESSAGE, "id": 8, "to": None, "receipts": None, "read": False}],
        "has_more": False,
    },
    "mark_read": {"marked": [1, 3]},
    "add_task": {"task": TASK},
    "plan": {"tasks": [TASK], "ids": {"a": 3}},
    "claim_task": {"task": TASK},
    "unclaim_task": {"task": {**TASK, "assignee": None}},
    "update_task": {"task": {**TASK, "status": "done", "note": "merged", "waiting_on": []}},
    "board": {
        "open": [],
        "claimed": [],
        "in_progress": [],
        "blocked": [{**TASK, "truncated": True}],
        "done": [],
        "failed": [],
        "total": 1,
        "truncated": False,
    },
    "get_task": {"task": TASK},
    "set_var": {"var": VAR},
    "get_var": {"vars": [VAR, {**VAR, "key": "big", "value": None}], "truncated": True},
    "delete_var": {"deleted": True},
    "list_peers": {
        "peers": [
            {
                "peer_id": "p1",
                "name": "alice",
                "role": "editor",
                "state": "idle",
                "idle_minutes": 3,
                "connected_at": T,
                "last_active_at": T + 10,
                "locks": ["src/app.py"],
                "tasks": [3],
                "card": {"client": "claude-code", "mcp_servers": ["github"]},
            }
        ]
    },
    "publish_card": {"card": {"client": "claude-code", "mcp_servers": []}},
    "activity_log": {
        "entries": [
            {
                "id": 1,
                "at": T,
                "actor": "bob",
                "kind": "write_proposed",
                "path": "a.py",
                "detail": {"change": "c1"},
            }
        ]
    },
    "leave": {
        "changes_proposed": 3,
        "changes_applied": 1,
        "changes_rejected": 1,
        "messages_sent": 4,
        "tasks_done": 2,
        "locks_released": 0,
        "tasks_released": 1,
    },
}

COMMAND: dict[str, Any] = {
    "name": "test",
    "run": ["pytest", "-q"],
    "args": "patterns",
    "patterns": ["tests/*", "-x"],
    "approval": "ask",
    "timeout_seconds": 600,
    "roles": ["editor"],
    "env": ["PYTHONHASHSEED"],
    "description": "the unit tests",
    "allowed": True,
}
RUN: dict[str, Any] = {
    "id": 4,
    "command": "test",
    "argv": ["pytest", "-q", "tests/test_app.py", "-x"],
    "by": "alice",
    "state": "failed",
    "approval": "ask",
    "timeout_seconds": 600,
    "created_at": T,
    "started_at": T + 2,
    "ended_at": T + 9,
    "exit_code": 1,
    "output_bytes": 120,
}
RESULT_EXAMPLES.update(
    {
        "list_commands": {"commands": [COMMAND], "source": "letswork.toml"},
        "run_command": {"run": {**RUN, "state": "pending", "started_at": None}},
        "get_run": {"run": RUN, "output": "1 failed, 3 passed\n", "page": 1, "pages": 1},
        "list_runs": {"runs": [RUN]},
        "cancel_run": {"run": {**RUN, "state": "cancelled", "reason": "cancelled by alice"}},
        "approve_run": {"run": {**RUN, "state": "running", "ended_at": None}},
        "deny_run": {"run": {**RUN, "state": "denied", "reason": "not now"}},
    }
)

#: One valid ``data`` per event.
EVENT_EXAMPLES: dict[str, dict[str, Any]] = {
    "peer_joined": {"peer_id": "p2", "name": "bob", "role": "viewer"},
    "peer_left": {"peer_id": "p2", "name": "bob", "reason": "disconnected"},
    "awaiting_admission": {"peer_id": "p3", "name": "carol", "role": "editor"},
    "admitted": {"name": "carol", "resume_secret": "ee" * 32, "events_log": "0a1b.2c3d"},
    "events_missed": {"lost": 12},
    "denied": {"reason": "no thanks"},
    "name_changed": {"peer_id": "p2", "old": "bob", "new": "Bob"},
    "change_submitted": {"change": {k: v for k, v in CHANGE.items() if k != "diff"}},
    "change_decided": {"change": DECIDED},
    "lock_taken": {"lock": LOCK},
    "lock_released": {"path": "a.py", "holder": "bob", "reason": "expired"},
    "file_changed": {"path": "a.py", "change": "modified", "by": "bob"},
    "kicked": {},
    "hub_stopping": {},
    "message": {"message": {**MESSAGE, "receipts": None, "read": False}},
    "message_receipt": {"message_id": 7, "recipient": "bob", "status": "read", "at": T},
    "task_updated": {"task": TASK, "change": "unblocked"},
    "var_changed": {"key": "build.target", "deleted": True, "by": "bob", "at": T},
    "run_updated": {"run": RUN, "change": "ended"},
}
