"""Hand mutations of the security-critical code, and the tests that must kill them (issue 13).

Each :class:`Mutant` removes or weakens one check: it replaces one exact, unique piece of
source text. The script copies the sources and tests into a temporary folder once; for each
mutant it applies it there, runs the tests named for it (or a whole ``--suite``) in that copy
(``PYTHONPATH`` points at it, so subprocesses import the mutant too), and puts the file back.
The working tree is never changed. A mutant is *killed* when at least one test fails (or the
run times out); it *survives* when all pass. docs/security.md, "Invariants held by tests
(mutation check)", has the table.

    python -m bench.mutants                  # every mutant against the tests named for it
    python -m bench.mutants -k core- -k ws-  # the mutants whose name contains one of these
    python -m bench.mutants --suite tests    # discovery: against the whole suite instead
    python -m bench.mutants --list           # names, file:line and the tests that kill them
    python -m bench.mutants --suite tests --without tests/hub/test_x.py  # the suite before x

Exit status 1 when a mutant survives or a file did not match. Each run compiles afresh
(``PYTHONPYCACHEPREFIX`` in a temporary folder), so a stale ``.pyc`` of the same size and
second can never stand in for the mutated source. Run it with the project's venv
(``.venv/bin/python -m bench.mutants``).
"""

from __future__ import annotations

import argparse
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
TIMEOUT_SECONDS = 600

_INV = "tests/hub/test_hub_invariants.py"
_REC = "tests/shared/crypto/test_record_invariants.py"
_MUT = "tests/hub/test_mutation_kills.py"


@dataclass(frozen=True)
class Mutant:
    name: str
    path: str  # relative to the repository root
    old: str  # exact text, found exactly once
    new: str
    kills: tuple[str, ...]  # test node ids (or files) that must fail with the mutant in place
    what: str  # the check it removes, in words
    #: why no test can kill it (another check holds the same invariant); such a mutant is run
    #: only with --suite, where it is expected to survive
    equivalent: str = ""


def _m(
    name: str,
    path: str,
    old: str,
    new: str,
    kills: tuple[str, ...],
    what: str,
    equivalent: str = "",
) -> Mutant:
    return Mutant(name, path, old, new, kills, what, equivalent)


CORE = "letswork/hub/core.py"
HUB_ADMISSION = "letswork/hub/admission.py"
HUB_CHANGES = "letswork/hub/changes.py"
HUB_PEERS = "letswork/hub/peers.py"
HUB_STATE = "letswork/hub/state.py"
OPS_ADMIN = "letswork/hub/ops/admin.py"
OPS_CHANGES = "letswork/hub/ops/changes.py"
OPS_SESSION = "letswork/hub/ops/session.py"
WS_PATHS = "letswork/hub/workspace/paths.py"
WS_SHARING = "letswork/hub/workspace/sharing.py"
WS_BASE = "letswork/hub/workspace/base.py"
WS_FILES = "letswork/hub/workspace/files.py"
WS_WRITES = "letswork/hub/workspace/writes.py"
WS_INDEX = "letswork/hub/workspace/index.py"
WS_RG = "letswork/hub/workspace/ripgrep.py"
WS_SEARCH = "letswork/hub/workspace/search.py"
RG_TESTS = "tests/hub/workspace/test_search_ripgrep.py::"
RECORD = "letswork/shared/crypto/record.py"
HANDSHAKE = "letswork/shared/crypto/handshake.py"
KEYS = "letswork/shared/crypto/keys.py"
SERVER = "letswork/hub/server.py"
STRANGERS = "letswork/hub/strangers.py"
HUB_HANDSHAKE = "letswork/hub/handshake.py"
RATE = "letswork/hub/ratelimit.py"

MUTANTS: tuple[Mutant, ...] = (
    # ---- issue 13's list: invariants no test held
    _m(
        "core-visible-author",
        HUB_CHANGES,
        "if row is None or (not peer.is_host and row.author_id != peer.guest_id):",
        "if row is None:",
        (f"{_INV}::test_a_guest_gets_not_found_for_another_guests_change_and_sees_its_own",),
        "_visible_change: a guest sees only its own changes",
    ),
    _m(
        "core-recover-conflict",
        HUB_CHANGES,
        "        if current != row.base_sha256:\n"
        "            return conflict(ctx, row, now, by=by)\n",
        "",
        (
            f"{_INV}::test_recovery_marks_an_approved_change_a_conflict_when_the_file_changed_meanwhile",
        ),
        "_finish_approved: an approved change whose file moved on is a conflict",
    ),
    _m(
        "core-reapprove-conflict",
        OPS_CHANGES,
        'if row.status in ("applied", "conflict"):\n            if row.blob_key',
        'if row.status in ("applied",):\n            if row.blob_key',
        (f"{_INV}::test_approving_a_conflict_again_writes_nothing_and_it_stays_a_conflict",),
        "approve_change: a conflict is final",
    ),
    _m(
        "crypto-recv-seq-limit",
        RECORD,
        "        if expected >= SEQ_LIMIT:\n",
        "        if False:\n",
        (f"{_REC}::test_a_record_at_sequence_2_pow_64_minus_1_is_refused_though_its_tag_verifies",),
        "Session.open: seq 2^64-1 is never accepted",
    ),
    _m(
        "crypto-record-version",
        RECORD,
        "        if header[2] != PROTOCOL_VERSION:\n",
        "        if False:\n",
        (f"{_REC}::test_a_record_with_a_wrong_version_byte_is_refused_though_its_tag_verifies",),
        "Session.open: the record's version byte",
    ),
    _m(
        "core-hello-first",
        CORE,
        'if request.op != "hello" and peer.state == "handshaken":',
        "if False:",
        (f"{_INV}::test_a_request_before_hello_is_refused_and_does_nothing",),
        "begin: the first request must be hello",
    ),
    _m(
        "core-awaiting-admission",
        CORE,
        'if peer.state == "awaiting_admission" and request.op not in _PRE_ADMISSION_OPS:',
        "if False:",
        (f"{_INV}::test_ops_of_a_guest_awaiting_admission_are_refused_until_it_is_admitted",),
        "begin: a waiting guest may only ping",
    ),
    _m(
        "core-resume-parent-revoked",
        CORE,
        "                if parent is None or parent.revoked_at is not None:\n",
        "                if False:\n",
        (
            f"{_INV}::test_a_resume_credential_is_refused_when_only_its_parent_invite_is_marked_revoked",
        ),
        "lookup_credential: a resume credential dies with its parent invite",
    ),
    _m(
        "core-write-symlink",
        HUB_CHANGES,
        "    if ctx.workspace.is_symlink(path):\n",
        "    if False:\n",
        (f"{_INV}::test_a_change_through_a_symlink_is_refused_and_its_target_is_untouched",),
        "_current: no change through a symlink",
    ),
    _m(
        "core-write-folder",
        HUB_CHANGES,
        "    if not stat.S_ISREG(st.st_mode):\n"
        "        raise op_error(ErrorCode.NOT_A_FILE, f\"'{rel}' is not a regular file\")\n",
        "    if False:\n"
        "        raise op_error(ErrorCode.NOT_A_FILE, f\"'{rel}' is not a regular file\")\n",
        (),
        "read_current: a change names a regular file, never a folder",
        equivalent="reading the file for its base (Workspace.read_text) refuses anything but a "
        "regular file with the same not_a_file (ws-read-not-regular)",
    ),
    _m(
        "ws-read-not-regular",
        WS_FILES,
        "            if not stat.S_ISREG(st.st_mode):\n"
        '                raise op_error(ErrorCode.NOT_A_FILE, f"{_q(res.rel)} is not a regular '
        'file")\n            if st.st_size > self.max_text_bytes:',
        "            if st.st_size > self.max_text_bytes:",
        (
            "tests/hub/workspace/test_files.py::test_read_of_a_fifo_is_not_a_file_and_does_not_block",
        ),
        "read: only a regular file (a FIFO reads as empty)",
    ),
    _m(
        "ws-write-folder",
        WS_WRITES,
        "        if old is not None and not stat.S_ISREG(old.st_mode):\n",
        "        if False:\n",
        (
            "tests/hub/workspace/test_files.py::test_write_atomic_onto_a_fifo_is_not_a_file_and_keeps_the_fifo",
        ),
        "write_atomic: only over a regular file (never a FIFO or socket)",
    ),
    _m(
        "ws-require-file",
        WS_WRITES,
        "        self._refuse_symlink(res)\n        self._require_file(res)\n        try:\n"
        "            os.unlink(res.real)",
        "        self._refuse_symlink(res)\n        try:\n            os.unlink(res.real)",
        (
            "tests/hub/workspace/test_files.py::test_deleting_or_moving_a_fifo_is_not_a_file_and_keeps_it",
        ),
        "delete: only a regular file (never a FIFO or socket)",
    ),
    # ---- core.py: admission, roles, visibility, the change queue
    _m(
        "core-role-table",
        CORE,
        "        if peer.role not in spec.roles:\n",
        "        if False:\n",
        (f"{_INV}::test_a_guest_cannot_decide_another_guests_change",),
        "begin: the role table",
    ),
    _m(
        "core-gone-at-dispatch",
        CORE,
        "        require_open(peer)\n        if not peer.bucket.take(now):",
        "        if not peer.bucket.take(now):",
        (f"{_INV}::test_a_request_without_file_work_dispatched_after_a_kick_applies_nothing",),
        "begin: a removed peer's request is refused at dispatch",
    ),
    _m(
        "core-gone-at-resume",
        CORE,
        "        try:\n            require_open(self.peer)\n        except OpError:",
        "        try:\n            pass\n        except OpError:",
        (
            f"{_INV}::test_a_message_whose_quotes_were_read_before_its_sender_was_kicked_is_not_stored",
        ),
        "Job: a removed peer's file work is applied to nothing",
    ),
    _m(
        "core-gone-at-propose",
        HUB_CHANGES,
        "    require_open(peer)\n    kind, path, new_path, content",
        "    kind, path, new_path, content",
        (),
        "_propose: checked again right before the apply",
        equivalent="_propose runs only as the next step of a Job, and Job._advance refuses a "
        "gone peer just before it (core-gone-at-resume)",
    ),
    _m(
        "core-rate-limit",
        CORE,
        "        if not peer.bucket.take(now):\n",
        "        if False:\n",
        (
            "tests/hub/test_hub_limits.py::test_a_burst_over_the_rate_limit_gets_rate_limited_and_the_connection_survives",
        ),
        "begin: the per-peer token bucket",
    ),
    _m(
        "core-revoked-invite",
        CORE,
        "            if row.revoked_at is not None:\n                return None\n",
        "",
        (f"{_INV}::test_a_revoked_invite_cannot_connect_again",),
        "lookup_credential: a revoked invite authenticates nobody",
    ),
    _m(
        "core-resume-state",
        CORE,
        '            if guest.state != "admitted":\n                return None\n',
        "",
        (),
        "lookup_credential: a kicked guest's resume credential is dead",
        equivalent="every way out of 'admitted' (kick, revoke) also drops the resume id, so a "
        "guest that is not admitted is never found by it",
    ),
    _m(
        "core-host-name-reserved",
        HUB_PEERS,
        "    if name_key(stripped) == HOST_ID:\n",
        "    if False:\n",
        ("tests/hub/test_core.py::test_a_guest_cannot_take_the_host_name_when_joining",),
        "validate_display_name: 'host' is reserved",
    ),
    _m(
        "core-deny-cooldown",
        HUB_ADMISSION,
        "    elif until is not None:\n        peer.close()",
        "    elif False:\n        peer.close()",
        (
            "tests/hub/test_admission.py::test_a_denied_invite_cannot_knock_again_until_the_cooldown_ends",
        ),
        "_check_may_knock: a denied invite cannot knock during its cooldown",
    ),
    _m(
        "core-waiting-per-invite",
        HUB_ADMISSION,
        "if len(ctx.waiting_peers(invite_id)) >= limits.max_waiting_per_invite:",
        "if len(ctx.waiting_peers(invite_id)) > limits.max_waiting_per_invite:",
        (
            "tests/hub/test_admission.py::test_a_guest_over_the_per_invite_waiting_cap_gets_quota_exceeded",
        ),
        "_check_may_knock: waiting guests per invite (off by one)",
    ),
    _m(
        "core-waiting-total",
        HUB_ADMISSION,
        "    if len(ctx.waiting_peers()) >= limits.max_waiting_total:\n",
        "    if False:\n",
        (
            "tests/hub/test_admission.py::test_a_guest_over_the_total_waiting_cap_gets_quota_exceeded_but_resumes_get_in",
        ),
        "_check_may_knock: waiting guests in all",
    ),
    _m(
        "core-max-guests",
        HUB_STATE,
        "        return admitted < self.limits.max_peers\n",
        "        return admitted <= self.limits.max_peers\n",
        (
            "tests/hub/test_hub_limits.py::test_a_full_session_refuses_one_more_guest_but_never_the_host",
        ),
        "can_accept_guest: --max-guests (off by one)",
    ),
    _m(
        "core-resume-session-room",
        OPS_SESSION,
        'if (cred.kind == "resume" or ctx.auto_admit) and cred.kind != "host":',
        'if ctx.auto_admit and cred.kind != "host":',
        (f"{_INV}::test_a_resuming_guest_is_refused_when_the_session_is_full",),
        "hello: a resuming guest counts against --max-guests",
    ),
    _m(
        "core-admission-needed",
        OPS_SESSION,
        '        else:\n            move(peer, "awaiting_admission")\n',
        "        else:\n            resume_secret = record_admission(ctx, peer, now)\n",
        ("tests/hub/test_admission.py::test_waiting_guests_do_not_count_towards_max_guests",),
        "hello: without --auto-admit a new guest waits for the host",
    ),
    _m(
        "core-trusted",
        HUB_STATE,
        "        row = self.store.get_guest(peer.guest_id)\n"
        "        return bool(row and row.trusted)\n",
        "        return True\n",
        (
            "tests/hub/ops/test_changes.py::test_host_sees_the_diff_and_approving_writes_the_proposal",
        ),
        "_is_trusted: only trusted editors apply without approval",
    ),
    _m(
        "core-pending-count",
        HUB_CHANGES,
        "    if count >= ctx.limits.max_pending_per_guest:\n",
        "    if False:\n",
        (f"{_INV}::test_a_guest_over_its_pending_change_count_is_refused",),
        "_check_pending_room: pending changes per guest",
    ),
    _m(
        "core-pending-bytes",
        HUB_CHANGES,
        "    if pending + size > ctx.limits.max_pending_bytes_per_guest:\n",
        "    if False:\n",
        (f"{_INV}::test_a_guest_over_its_pending_bytes_is_refused",),
        "_check_pending_room: pending bytes per guest",
    ),
    _m(
        "core-my-changes-author",
        OPS_CHANGES,
        "status=args.status, author_id=author, include_content=False",
        "status=args.status, author_id=None, include_content=False",
        (f"{_INV}::test_a_guests_list_and_count_of_changes_hold_only_its_own",),
        "my_changes: a guest lists only its own",
    ),
    _m(
        "core-status-pending-own",
        OPS_SESSION,
        "        else ctx.store.pending_totals(peer.guest_id)[0]\n",
        "        else ctx.store.pending_grand_totals()[0]\n",
        (f"{_INV}::test_a_guests_list_and_count_of_changes_hold_only_its_own",),
        "status: a guest counts only its own pending changes",
    ),
    _m(
        "core-status-waiting-hidden",
        OPS_SESSION,
        "visible = [p for p in ctx.peers.values() if p.admitted or peer.is_host or p is peer]",
        "visible = list(ctx.peers.values())",
        (f"{_INV}::test_a_guest_does_not_see_guests_waiting_for_admission",),
        "status: guests do not see who waits for admission",
    ),
    _m(
        "core-conflict-diff-redacted",
        HUB_STATE,
        "if redacted is not None and ident != HOST_ID and ident != redacted[0]:",
        "if False:",
        (f"{_INV}::test_a_conflict_of_one_guests_change_shows_its_diff_to_no_other_guest",),
        "change_decided: a conflict's diff goes to the host and the author only",
    ),
    _m(
        "core-reject-applied",
        OPS_CHANGES,
        '    if row.status == "applied":\n'
        "        raise op_error(\n"
        '            ErrorCode.ALREADY_DECIDED, f"change {row.id} was already applied"',
        "    if False:\n"
        "        raise op_error(\n"
        '            ErrorCode.ALREADY_DECIDED, f"change {row.id} was already applied"',
        (f"{_INV}::test_rejecting_an_applied_change_is_refused_and_the_file_stays",),
        "reject_change: an applied change stays applied",
    ),
    _m(
        "core-approve-rejected",
        OPS_CHANGES,
        '        if row.status == "rejected":\n',
        "        if False:\n",
        (
            "tests/hub/ops/test_changes.py::test_rejecting_twice_is_idempotent_and_approve_after_reject_is_refused",
        ),
        "approve_change: a rejected change is never applied",
    ),
    _m(
        "core-locks-enforced",
        HUB_CHANGES,
        "            ctx.locks.check_writable(p, holder, now)\n",
        "            pass\n",
        ("tests/hub/ops/test_changes.py::test_a_pending_change_holds_the_lock_on_its_path",),
        "_propose: another peer's lock refuses the change",
    ),
    _m(
        "core-base-sha",
        HUB_CHANGES,
        "    if base is not None and base != current:\n",
        "    if False:\n",
        ("tests/hub/ops/test_changes.py::test_a_stale_base_sha256_is_refused_as_a_conflict",),
        "_check_base: a stale base_sha256 is a conflict",
    ),
    _m(
        "core-kick-forgets-resume",
        OPS_ADMIN,
        '    ctx.store.set_guest_state(row.guest_id, "kicked")\n',
        "    pass\n",
        (f"{_INV}::test_a_resume_credential_of_a_kicked_guest_is_refused",),
        "kick: the guest's resume credential dies",
    ),
    _m(
        "core-revoke-disconnects",
        OPS_ADMIN,
        "if target.credential.invite_id == row.invite_id or target.guest_id in guests:",
        "if False:",
        (
            "tests/hub/test_hub_event_loop.py::test_a_message_dispatched_after_a_revoke_returns_is_not_stored",
        ),
        "revoke_invite: its connected guests are removed",
    ),
    _m(
        "core-unshared-events",
        HUB_STATE,
        "            if ident != HOST_ID and (hosts_only or not shared):\n",
        "            if ident != HOST_ID and hosts_only:\n",
        (f"{_INV}::test_a_guest_gets_no_event_about_an_unshared_path",),
        "_broadcast: guests get no event about an unshared path",
    ),
    _m(
        "core-trust-viewer",
        OPS_ADMIN,
        '    if row.role != "editor":\n',
        "    if False:\n",
        (f"{_INV}::test_a_viewer_cannot_be_trusted",),
        "trust: viewers cannot be trusted",
    ),
    _m(
        "core-move-target-exists",
        OPS_CHANGES,
        "        if target_text is not None or target.exists() or target.is_symlink():\n",
        "        if False:\n",
        (f"{_INV}::test_a_guests_move_onto_an_existing_file_is_refused_at_once",),
        "move_file: never onto an existing path",
    ),
    # ---- workspace/: safe_join and the sharing rules
    _m(
        "ws-dotdot",
        WS_PATHS,
        '        if part == "..":\n',
        "        if False:\n",
        (
            "tests/hub/workspace/test_paths.py::test_a_dotdot_that_would_stay_inside_is_still_rejected",
        ),
        "safe_join: no '..' component",
    ),
    _m(
        "ws-absolute",
        WS_PATHS,
        '    if relpath.startswith("/"):\n',
        "    if False:\n",
        (
            "tests/hub/ops/test_files.py::test_escape_attempts_over_the_wire_neither_read_nor_write_outside",
            "tests/hub/workspace/test_paths.py::test_safe_join_refuses_each_documented_form_and_says_why",
        ),
        "safe_join: no absolute path",
    ),
    _m(
        "ws-backslash",
        WS_PATHS,
        '    if "\\\\" in relpath:\n',
        "    if False:\n",
        (
            "tests/hub/ops/test_files.py::test_escape_attempts_over_the_wire_neither_read_nor_write_outside",
            "tests/hub/workspace/test_paths.py::test_safe_join_refuses_each_documented_form_and_says_why",
        ),
        "safe_join: no backslash",
    ),
    _m(
        "ws-control",
        WS_PATHS,
        "    if _CONTROL.search(relpath):\n",
        "    if False:\n",
        (
            "tests/hub/workspace/test_paths.py::test_safe_join_refuses_each_documented_form_and_says_why",
        ),
        "safe_join: no control character",
    ),
    _m(
        "ws-symlink-outside",
        WS_PATHS,
        "    if not real.is_relative_to(root):\n",
        "    if False:\n",
        ("tests/hub/workspace/test_paths.py::test_safe_join_rejects_or_stays_inside_root",),
        "safe_join: a symlink may not lead outside the root",
    ),
    _m(
        "ws-symlink-target-shared",
        WS_BASE,
        "real_rel != res.rel and not self.rules.is_shared(real_rel, is_dir=is_dir)",
        "False",
        ("tests/hub/workspace/test_sharing.py::test_a_symlink_to_an_unshared_file_is_not_shared",),
        "_check: a symlink's target must be shared too",
    ),
    _m(
        "ws-index-unshared",
        WS_INDEX,
        "if not is_host and (not kid.shared or (kid.kind",
        "if not is_host and (False or (kid.kind",
        (
            "tests/hub/workspace/test_index.py::"
            "test_index_backed_answers_equal_walk_backed_ones_with_nested_ignore_files",
        ),
        "index: a guest's answer leaves out what the index decided unshared",
    ),
    _m(
        "ws-index-symlink",
        WS_INDEX,
        'kid.kind == "symlink" and not visible(path)',
        'kid.kind == "symlink" and False',
        (
            "tests/hub/workspace/test_index.py::"
            "test_index_backed_answers_equal_walk_backed_ones_with_nested_ignore_files",
        ),
        "index: a guest sees a symlink only when its target is shared, asked at each answer",
    ),
    _m(
        "ws-index-redecide",
        WS_INDEX,
        "        self._redecide(policy)\n",
        "        pass\n",
        (
            "tests/hub/workspace/test_index.py::"
            "test_an_ignore_file_change_re_decides_the_subtree_it_governs",
        ),
        "index: a changed ignore file re-decides the subtree it governs",
    ),
    _m(
        "ws-rg-no-config",
        WS_RG,
        '        "--no-config",  # no RIPGREP_CONFIG_PATH',
        "        # no RIPGREP_CONFIG_PATH",
        (RG_TESTS + "test_ripgrep_runs_without_a_config_and_takes_the_pattern_as_one_argument",),
        "ripgrep: no config file (which could add --pre, a command per file)",
    ),
    _m(
        "ws-rg-ascii-boundary",
        WS_RG,
        "            elif nxt in _NEGATED_CLASSES:\n"
        "                out.append(_NEGATED_CLASSES[nxt])\n"
        '            elif nxt in "bB":\n'
        '                out.append(f"(?-u:\\\\{nxt})")\n',
        "",
        (RG_TESTS + "test_a_regex_finds_the_same_lines_with_ripgrep",),
        "ripgrep: RE2's ASCII \\b, \\W, ... are passed as ASCII, or rg skips files RE2 matches",
    ),
    _m(
        "ws-rg-failed-run",
        WS_RG,
        " or (self.code == 2 and not self.out)",
        "",
        (RG_TESTS + "test_a_ripgrep_that_fails_leaves_every_file_to_python",),
        "ripgrep: a run that failed leaves its files to Python, never means no match",
    ),
    _m(
        "ws-rg-kill",
        WS_RG,
        "        for run in runs:\n            run.kill()\n",
        "        pass\n",
        (RG_TESTS + "test_max_results_stops_ripgrep_early",),
        "ripgrep: a search that stops kills and reaps its processes, freeing their slots",
    ),
    _m(
        "ws-rg-empty-match",
        WS_SEARCH,
        "if regex and _matches_empty_at_the_end(rx):",
        "if False:",
        (RG_TESTS + "test_a_regex_finds_the_same_lines_with_ripgrep",),
        "search: a regex matching the empty string skips rg ($ at the end of a file)",
    ),
    _m(
        "ws-rg-max-depth",
        WS_RG,
        '        "--max-depth=0",\n',
        "",
        (RG_TESTS + "test_ripgrep_never_walks_a_folder_swapped_in_where_the_index_saw_a_file",),
        "ripgrep: only the given paths, never a folder (or a symlink to one) swapped in for a file",
    ),
    _m(
        "ws-rg-encoding",
        WS_RG,
        '        "--encoding=none",\n',
        "",
        (RG_TESTS + "test_a_utf8_bom_is_text_to_ripgrep_as_it_is_to_re2",),
        "ripgrep: the bytes as they are (a UTF-8 BOM is text to RE2)",
    ),
    _m(
        "ws-search-still-shared",
        WS_SEARCH,
        "if hits and not self._still_shared(rel, ident, is_host=is_host):",
        "if False:",
        (
            RG_TESTS
            + "test_a_folder_renamed_over_a_shared_one_leaks_nothing_before_the_watcher_reports_it",
            RG_TESTS + "test_a_folder_swapped_for_a_symlink_out_of_the_project_leaks_nothing",
        ),
        "search: a file with matches is checked again (policy, inode) before its lines go out",
    ),
    _m(
        "ws-builtin-deny",
        WS_SHARING,
        "        if self._builtin.check(probe_low):\n",
        "        if False:\n",
        ("tests/hub/workspace/test_sharing.py::test_guest_listing_omits_every_unshared_path",),
        "sharing: the built-in denies (.env, .git, keys)",
    ),
    _m(
        "ws-builtin-case",
        WS_SHARING,
        "        lowered = rel.lower()\n",
        "        lowered = rel\n",
        ("tests/hub/workspace/test_sharing.py::test_builtin_denies_are_never_shared",),
        "sharing: built-in denies compare in lower case (.ENV)",
    ),
    _m(
        "ws-unshared-parent",
        WS_SHARING,
        "            if not self._decide(rel, is_dir if last else True, chain, extra):\n"
        "                return False\n",
        "            if last and not self._decide(rel, is_dir, chain, extra):\n"
        "                return False\n",
        (
            "tests/hub/workspace/test_sharing.py::test_a_reinclude_cannot_reach_into_an_ignored_folder",
        ),
        "sharing: a path inside an unshared folder is unshared",
    ),
    _m(
        "ws-listed-symlink",
        WS_BASE,
        '                if kind == "symlink" and not self._symlink_visible(entry.path):\n',
        "                if False:\n",
        ("tests/hub/workspace/test_sharing.py::test_a_symlink_to_an_unshared_file_is_not_shared",),
        "listing: a guest sees a symlink only when its target is shared",
    ),
    _m(
        "ws-temp-files",
        WS_SHARING,
        # (on main after issue 13 items 1-2 the line goes on: `or is_git_name(name):`)
        '\n        name = rel.rsplit("/", 1)[-1]\n        if name.startswith(TEMP_PREFIX)',
        '\n        name = rel.rsplit("/", 1)[-1]\n        if False',
        ("tests/hub/workspace/test_sharing.py::test_builtin_denies_are_never_shared",),
        "sharing: temporary files of atomic writes are never shared",
    ),
    _m(
        "ws-refuse-symlink",
        WS_WRITES,
        "        if res.lexical.is_symlink():\n            raise op_error(\n"
        "                ErrorCode.INVALID,\n"
        '                f"{_q(res.rel)} is a symlink; letswork',
        "        if False:\n            raise op_error(\n"
        "                ErrorCode.INVALID,\n"
        '                f"{_q(res.rel)} is a symlink; letswork',
        (
            "tests/hub/workspace/test_files.py::test_write_atomic_refuses_to_write_through_a_symlink",
        ),
        "write/delete/move: the workspace refuses a symlink too",
    ),
    _m(
        "ws-read-size",
        WS_FILES,
        "            if st.st_size > cap:\n"
        "                raise whole_too_large(st.st_size, cap, self.max_text_bytes)\n"
        "            data = _read_fd(fd, cap + 1, st.st_size)\n"
        "        except OSError as exc:\n"
        '            raise _disk_error(exc, res.rel, "read") from None\n'
        "        finally:\n"
        "            os.close(fd)\n"
        "        if len(data) > cap:  # grew since fstat\n",
        "            data = _read_fd(fd, st.st_size + 1, st.st_size)\n"
        "        except OSError as exc:\n"
        '            raise _disk_error(exc, res.rel, "read") from None\n'
        "        finally:\n"
        "            os.close(fd)\n"
        "        if False:\n",
        (
            "tests/hub/workspace/test_files.py::"
            "test_a_whole_read_over_the_size_limit_is_too_large_and_says_pages_work",
        ),
        "whole read: the size limit (read_text, the base of a change)",
    ),
    # ---- crypto/: the record layer and the handshake
    _m(
        "crypto-record-seq",
        RECORD,
        "        if seq != expected:\n",
        "        if False:\n",
        (
            f"{_REC}::test_a_record_ahead_of_the_expected_sequence_is_refused_though_its_tag_verifies",
        ),
        "Session.open: exactly the next sequence number",
    ),
    _m(
        "crypto-record-magic",
        RECORD,
        "        if header[:2] != RECORD_MAGIC:\n",
        "        if False:\n",
        (f"{_REC}::test_a_record_with_wrong_magic_is_refused_though_its_tag_verifies",),
        "Session.open: the record's magic",
    ),
    _m(
        "crypto-record-dead",
        RECORD,
        '        if self._dead:\n            raise RecordError("session is closed after an earlier '
        'record error")\n        record = bytes(record)',
        "        record = bytes(record)",
        ("tests/shared/crypto/test_record.py::test_reordered_records_are_a_record_error",),
        "Session.open: a failed session stays dead",
    ),
    _m(
        "crypto-record-size",
        RECORD,
        "        if len(record) > self.max_record_bytes:\n",
        "        if False:\n",
        (
            "tests/shared/crypto/test_record.py::test_record_over_max_record_bytes_is_a_record_error_when_opened",
        ),
        "Session.open: the record size limit",
    ),
    _m(
        "crypto-send-seq-limit",
        RECORD,
        "        if seq >= SEQ_LIMIT:\n",
        "        if False:\n",
        (
            "tests/shared/crypto/test_record.py::test_sequence_number_2_pow_64_minus_1_is_never_sent",
        ),
        "Session.seal: seq 2^64-1 is never sent",
    ),
    _m(
        "crypto-nonce-seq",
        RECORD,
        '    return (int.from_bytes(iv, "big") ^ seq).to_bytes(IV_LEN, "big")',
        '    return (int.from_bytes(iv, "big") ^ 0).to_bytes(IV_LEN, "big")',
        ("tests/shared/crypto/test_keys.py::test_vectors_in_protocol_md_match_the_implementation",),
        "records: a fresh nonce per sequence number",
    ),
    _m(
        "crypto-hello-mac",
        HANDSHAKE,
        "    if not hmac.compare_digest(expected, hello.mac):\n",
        "    if False:\n",
        (
            "tests/shared/crypto/test_handshake.py::test_wrong_secret_fails_the_mac_check_at_the_server",
        ),
        "handshake: the ClientHello MAC",
    ),
    _m(
        "crypto-server-finished",
        HANDSHAKE,
        "        if not hmac.compare_digest(_hmac(keys.fin_s, th), server_finished):\n",
        "        if False:\n",
        ("tests/shared/crypto/test_handshake.py::test_tampered_server_hello_fails_at_the_client",),
        "handshake: the server's finished tag (the hub knows the secret)",
    ),
    _m(
        "crypto-client-finished",
        HANDSHAKE,
        "        if not hmac.compare_digest(_hmac(keys.fin_c, self._th), data[2:]):\n",
        "        if False:\n",
        (
            "tests/shared/crypto/test_handshake.py::test_tampered_client_finished_fails_at_the_server",
        ),
        "handshake: the client's finished tag",
    ),
    _m(
        "crypto-low-order",
        KEYS,
        '    except ValueError:\n        raise HandshakeError("peer ephemeral key is a low-order '
        'point") from None',
        "    except ValueError:\n        return bytes(32)",
        (
            "tests/shared/crypto/test_handshake.py::test_low_order_client_ephemeral_key_fails_at_the_server",
        ),
        "handshake: a low-order ephemeral key is refused",
    ),
    _m(
        "crypto-replay-cache",
        HANDSHAKE,
        "        if seen_at is not None and now - seen_at < self.ttl_seconds:\n",
        "        if False:\n",
        (
            "tests/shared/crypto/test_handshake.py::test_replay_cache_rejects_a_replayed_client_hello_within_the_ttl",
        ),
        "handshake: a replayed ClientHello is refused",
    ),
    # ---- server.py, strangers.py, handshake.py: handshake limits
    _m(
        "server-hello-frame-size",
        SERVER,
        '            "max_size": MAX_HANDSHAKE_FRAME_BYTES,\n',
        '            "max_size": self.limits.max_frame_bytes,\n',
        (
            "tests/hub/test_handshake_limits.py::test_a_frame_one_byte_over_a_client_hello_closes_the_connection_with_1009",
        ),
        "a frame before the handshake is at most a ClientHello",
    ),
    _m(
        "server-in-progress-total",
        STRANGERS,
        "                if not gate.in_progress.enter(self):\n",
        "                if False:\n",
        (
            "tests/hub/test_handshake_limits.py::test_a_frame_one_byte_over_a_client_hello_closes_the_connection_with_1009",
        ),
        "handshakes in progress, in all",
    ),
    _m(
        "server-in-progress-source",
        STRANGERS,
        "        if not self.in_progress.assign(ws, source):\n",
        "        if False:\n",
        (
            "tests/hub/test_handshake_limits.py::test_the_per_source_cap_refuses_the_next_half_open_handshake_with_503",
        ),
        "handshakes in progress, per source",
    ),
    _m(
        "server-timeout-counts",
        SERVER,
        '            self.stats["handshake_timeouts"] += 1\n            if limited:\n'
        "                self._gate.record_failure(source, self._clock())\n",
        '            self.stats["handshake_timeouts"] += 1\n',
        (
            "tests/hub/test_handshake_limits.py::test_a_timed_out_handshake_counts_as_a_failed_handshake",
        ),
        "a handshake that times out counts as a failure",
    ),
    _m(
        "server-origin",
        STRANGERS,
        '        if "Origin" in request.headers:\n',
        "        if False:\n",
        (
            "tests/hub/test_handshake_limits.py::test_a_websocket_upgrade_with_an_origin_header_is_refused_with_403",
        ),
        "browser upgrades (Origin) are refused",
    ),
    _m(
        "server-loopback-host-only",
        HUB_HANDSHAKE,
        "            and not (is_loopback(source) and self.is_host_hello(frame))\n",
        "            and not is_loopback(source)\n",
        (
            "tests/hub/test_handshake_limits.py::test_the_host_socket_still_connects_after_bad_client_hellos_from_loopback",
        ),
        "only the host key's hello is exempt from loopback's failure limit",
    ),
    _m(
        "server-cf-header-trust",
        STRANGERS,
        "        if self.behind_tunnel and is_loopback(remote) and request is not None:\n",
        "        if request is not None:\n",
        (
            "tests/reliability/test_brute_force.py::test_a_forged_tunnel_header_is_ignored_when_not_behind_the_tunnel",
        ),
        "CF-Connecting-IP is trusted only behind the tunnel",
    ),
    _m(
        "server-upgrade-size",
        STRANGERS,
        "                    if self.upgrade_bytes > MAX_UPGRADE_REQUEST_BYTES:\n",
        "                    if False:\n",
        (
            "tests/hub/test_handshake_limits.py::test_an_upgrade_request_over_16_kib_is_closed_before_it_is_answered",
        ),
        "the HTTP upgrade request is at most 16 KiB",
    ),
    _m(
        "server-replay",
        HUB_HANDSHAKE,
        "        if not self._replay.check_and_add(hello, self._clock()):\n",
        "        if False:\n",
        (f"{_INV}::test_a_replayed_client_hello_gets_no_server_hello",),
        "the hub refuses a replayed ClientHello",
    ),
    _m(
        "server-stop-reading-removed-peer",
        SERVER,
        "                if peer.closed or in_order.done() or writer.done():\n",
        "                if in_order.done() or writer.done():\n",
        (),
        "a removed peer's buffered frames are never served",
        equivalent="HubCore.begin refuses a gone peer's request (core-gone-at-dispatch), and "
        "the close queued by the kick is written before any reply",
    ),
    # ---- ratelimit.py
    _m(
        "rate-bucket",
        RATE,
        "        if self._tokens + _EPSILON >= n:\n            self._tokens = max(",
        "        if True:\n            self._tokens = max(",
        ("tests/hub/test_ratelimit.py::test_bucket_allows_a_full_burst_then_refuses",),
        "TokenBucket.take: no token, no request",
    ),
    _m(
        "rate-bucket-cap",
        RATE,
        "self._tokens = min(float(self.burst), self._tokens + (now - self._last) * self.rate)",
        "self._tokens = self._tokens + (now - self._last) * self.rate",
        ("tests/hub/test_ratelimit.py::test_bucket_never_holds_more_than_its_burst",),
        "TokenBucket: at most a burst saved up",
    ),
    _m(
        "rate-window-total",
        RATE,
        "        return len(self._all) < self.total and self._count(key, now) < self.per_key\n",
        "        return self._count(key, now) < self.per_key\n",
        ("tests/hub/test_ratelimit.py::test_failure_window_caps_the_total_across_keys",),
        "FailureWindow: the global cap",
    ),
    _m(
        "rate-window-edge",
        RATE,
        "        while self._all and self._all[0] <= horizon:\n",
        "        while self._all and self._all[0] < horizon - 1:\n",
        ("tests/hub/test_ratelimit.py::test_total_recovers_once_failures_leave_the_window",),
        "FailureWindow: failures leave the global window after 60 s",
    ),
    _m(
        "rate-in-progress-leave",
        RATE,
        "        if key is not None:\n            self._per_key[key] -= 1\n",
        "        if False:\n            self._per_key[key] -= 1\n",
        (
            "tests/hub/test_handshake_limits.py::test_the_host_socket_still_connects_after_bad_client_hellos_from_loopback",
            "tests/hub/test_in_progress.py::test_leaving_gives_the_sources_slot_back",
        ),
        "InProgress.leave: gives the source's slot back",
    ),
    _m(
        "rate-in-progress-per-key",
        RATE,
        "        if current is not None or self._per_key[key] >= self.per_key:\n",
        "        if current is not None:\n",
        (
            "tests/hub/test_handshake_limits.py::test_the_per_source_cap_refuses_the_next_half_open_handshake_with_503",
            "tests/hub/test_in_progress.py::test_a_source_gets_per_key_slots_and_no_more",
        ),
        "InProgress.assign: the per-source cap",
    ),
    # ---- issue 15: budgets the reader sends (read_file max_chars, a write's diff_head)
    _m(
        "channel-read-trusts-hub-cut",
        "letswork/channel/tools/files.py",
        "    cut = cut_page(text, MAX_READ_CHARS)\n",
        "    cut = None\n",
        (
            "tests/channel/tools/test_files.py::test_a_hub_that_marks_a_long_page_line_cut_still_gets_it_cut_to_the_budget",
            "tests/channel/tools/test_files.py::test_a_hub_that_ignores_the_budget_is_cut_by_the_channel_as_before",
        ),
        "read_file's text: the channel cuts a page to its budget whatever the hub sent",
    ),
    _m(
        "ws-line-cut-always-sent",
        WS_FILES,
        '            **({"line_cut": True} if line_cut else {}),\n',
        "            line_cut=line_cut,\n",
        (
            "tests/hub/ops/test_files.py::test_a_reader_without_a_budget_gets_the_whole_page_and_no_new_field",
        ),
        "read_file: line_cut is sent only when true (an older channel refuses it)",
    ),
    _m(
        "channel-retries-any-unknown-field",
        "letswork/channel/server.py",
        "            if name is None or name not in sends:\n                raise\n",
        "            if name is None:\n                raise\n",
        (
            "tests/channel/tools/test_files.py::test_an_unknown_argument_of_the_caller_is_not_retried",
        ),
        "a call is sent again only without an argument the channel added itself",
    ),
    _m(
        "channel-diff-trusts-summary-count",
        "letswork/channel/tools/changes.py",
        "    total = received if total is None else max(total, received)\n",
        "    total = received if total is None else total\n",
        (
            "tests/channel/tools/test_changes.py::test_a_hub_whose_summary_understates_the_diff_cannot_hide_the_channels_own_cut",
        ),
        "a write's reply: the lines the channel did not show are said, whatever the summary counts",
    ),
    _m(
        "channel-repeat-not-remembered",
        "letswork/channel/server.py",
        "            self._hub_lacks.add((op, name))\n",
        "",
        (
            "tests/channel/tools/test_changes.py::test_a_hub_that_refuses_the_diff_head_every_time_gets_a_write_at_most_twice",
        ),
        "a write a hub refused for diff_head: sent again once, then never with it",
    ),
    _m(
        "ws-read-opens-unchecked-file",
        "letswork/hub/workspace/files.py",
        "            if res.seen is not None and (st.st_dev, st.st_ino) != res.seen:\n",
        "            if False:\n",
        (
            "tests/hub/workspace/test_check_walk.py::test_a_folder_swapped_for_a_symlink_out_between_check_and_open_is_not_read",
        ),
        "a read opens only the file its check found at the path",
    ),
    _m(
        "ws-walk-follows-symlink",
        "letswork/hub/workspace/policy.py",
        "            if stat.S_ISLNK(st.st_mode):\n                return None\n",
        "",
        (
            "tests/hub/workspace/test_check_walk.py::test_the_one_pass_check_answers_every_path_as_the_realpath_check_does",
        ),
        "the one-pass check hands a path with a symlink on the way to realpath",
    ),
    _m(
        "ws-walk-trusts-root-path",
        "letswork/hub/workspace/policy.py",
        "            if (st.st_dev, st.st_ino) != root_id:\n",
        "            if False:\n",
        (
            "tests/hub/workspace/test_check_walk.py::test_a_project_folder_swapped_for_a_symlink_out_is_not_read_from",
        ),
        "the one-pass check goes on only in the project folder it was started on",
    ),
    _m(
        "ws-search-recheck-looks-up-again",
        "letswork/hub/workspace/search.py",
        "            if res.seen is not None:\n                return res.seen == ident\n",
        "",
        (
            "tests/hub/workspace/test_check_walk.py::test_a_search_keeps_no_match_of_a_file_swapped_in_after_its_check",
        ),
        "a search keeps a file's matches only when its check found that file at the path",
    ),
    _m(
        "client-early-sent-after-timeout",
        "letswork/client/connection.py",
        "[item for item in behind_hello if item[0] != request_id]",
        "behind_hello",
        (
            "tests/client/test_connection_early.py::test_an_early_request_that_times_out_before_hello_is_never_sent",
            "tests/client/test_connection_early.py::"
            "test_an_early_request_that_times_out_before_hello_is_dropped_from_the_queue_at_once",
        ),
        "a request that joined a connect() and gave up before hello was sent is dropped from "
        "the queue behind hello at once (never sent: _send_behind_hello's check holds that too)",
    ),
    _m(
        "client-early-sent-after-give-up-while-sending",
        "letswork/client/connection.py",
        "            if request_id in self._pending:\n"
        "                await ws.send(session.seal(payload))\n",
        "            await ws.send(session.seal(payload))\n",
        (
            "tests/client/test_connection_early.py::"
            "test_an_early_request_given_up_while_those_ahead_of_it_are_sent_is_never_sent",
        ),
        "a request given up while the requests ahead of it behind hello are sent is never sent",
    ),
    _m(
        "client-early-hides-hellos-refusal",
        "letswork/client/connection.py",
        "                if opening.done() and opening.exception() is not None:\n"
        "                    raise self._attempt_error(opening) from None\n",
        "",
        (
            "tests/client/test_connection_early.py::test_an_early_write_behind_a_refused_hello_fails_with_hellos_error_and_does_nothing",
        ),
        "a request behind a refused hello fails with hello's refusal",
    ),
    _m(
        "client-early-returns-before-hello",
        "letswork/client/connection.py",
        "            # state) before the caller reads them.\n"
        "            await asyncio.wait({opening}, timeout=wait)\n",
        "            # state) before the caller reads them.\n            pass\n",
        (
            "tests/client/test_connection_early.py::test_an_early_reply_that_overtakes_hellos_returns_after_hello_is_taken_in",
        ),
        "a request behind hello returns only once hello's answer is taken in (name, role)",
    ),
    _m(
        "hub-result-keeps-defaults",
        HUB_STATE,
        'return model.model_dump(mode="json", exclude_unset=True, exclude_defaults=True)',
        'return model.model_dump(mode="json", exclude_unset=True)',
        (
            "tests/hub/test_reply_shapes.py::test_a_search_reply_fits_a_channel_model_older_than_cut_short",
        ),
        "a reply leaves out the optional fields that hold their default (older channels)",
    ),
)


#: what the tests need of the repository (they read docs/protocol.md and README.md)
COPIED = ("letswork", "tests", "docs", "README.md", "pyproject.toml")


def _copy_tree(dest: Path) -> None:
    skip = shutil.ignore_patterns("__pycache__", "*.pyc", ".pytest_cache")
    for name in COPIED:
        src = ROOT / name
        if src.is_dir():
            shutil.copytree(src, dest / name, ignore=skip)
        else:
            shutil.copy2(src, dest / name)


def _run_tests(tree: Path, tests: list[str], timeout: float) -> tuple[str, str]:
    """Run pytest on ``tests`` in ``tree``: ("passed" | "failed" | "timeout" | "error", first
    failure)."""
    with tempfile.TemporaryDirectory(prefix="letswork-mutant-") as cache:
        env = dict(
            os.environ,
            PYTHONPATH=str(tree),
            PYTHONPYCACHEPREFIX=cache,
            PYTHONDONTWRITEBYTECODE="1",
        )
        cmd = [sys.executable, "-m", "pytest", "-x", "-q", "-rf", "-p", "no:cacheprovider"]
        try:
            proc = subprocess.run(
                [*cmd, *tests],
                cwd=tree,
                env=env,
                capture_output=True,
                text=True,
                timeout=timeout,
                check=False,
            )
        except subprocess.TimeoutExpired:
            return "timeout", f"no result in {timeout:.0f} s"
    failed = re.findall(r"^(?:FAILED|ERROR) (\S+)", proc.stdout, re.MULTILINE)
    if proc.returncode == 0:
        return "passed", ""
    if proc.returncode == 1 and failed:
        return "failed", failed[0]
    tail = (proc.stdout + proc.stderr).strip().splitlines()[-3:]
    return "error", " / ".join(tail)


def _where(m: Mutant) -> str | None:
    """``path:line`` where the mutant's text starts, or None unless it occurs exactly once."""
    source = (ROOT / m.path).read_text(encoding="utf-8") if (ROOT / m.path).is_file() else ""
    if source.count(m.old) != 1:
        return None
    return f"{m.path}:{source.count(chr(10), 0, source.index(m.old)) + 1}"


def run(
    mutants: list[Mutant], suite: list[str] | None, timeout: float, *, without: Sequence[str] = ()
) -> int:
    sources = {m.path: (ROOT / m.path).read_text(encoding="utf-8") for m in mutants}
    for m in mutants:
        if sources[m.path].count(m.old) != 1:
            print(f"{m.name}: its text occurs {sources[m.path].count(m.old)} times in {m.path}")
            return 1
    with tempfile.TemporaryDirectory(prefix="letswork-mutants-") as tmp:
        tree = Path(tmp)
        _copy_tree(tree)
        for name in without:
            (tree / name).unlink()
        if suite is None:
            for m in mutants:
                if m.equivalent:
                    print(f"equivalent {m.name:33} {m.equivalent}", flush=True)
            mutants = [m for m in mutants if not m.equivalent]
        baseline = suite or sorted({t for m in mutants for t in m.kills})
        outcome, first = _run_tests(tree, baseline, timeout)
        if outcome != "passed":
            print(f"the tests fail without any mutant ({outcome}: {first}); fix that first")
            return 1
        survivors = 0
        for m in mutants:
            path = tree / m.path
            started = time.monotonic()
            path.write_text(sources[m.path].replace(m.old, m.new, 1), encoding="utf-8")
            try:
                outcome, first = _run_tests(tree, suite or list(m.kills), timeout)
            finally:
                path.write_text(sources[m.path], encoding="utf-8")
            took = time.monotonic() - started
            if outcome == "passed" and m.equivalent:
                print(f"survived  {m.name:34} {took:5.1f}s  equivalent: {m.equivalent}")
            elif outcome == "passed":
                survivors += 1
                print(f"SURVIVED  {m.name:34} {took:5.1f}s  {m.what}", flush=True)
            else:
                print(f"killed    {m.name:34} {took:5.1f}s  {outcome}: {first}", flush=True)
    print(f"{len(mutants) - survivors} of {len(mutants)} mutants killed or equivalent")
    return 1 if survivors else 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.mutants", description=__doc__)
    parser.add_argument("-k", action="append", default=[], help="mutant names containing this")
    parser.add_argument("--suite", nargs="+", help="run these tests for every mutant instead")
    parser.add_argument(
        "--without",
        nargs="+",
        default=[],
        help="test files to leave out of the copy (what did the suite do before them?)",
    )
    parser.add_argument("--list", action="store_true", help="list the mutants and exit")
    parser.add_argument(
        "--table", action="store_true", help="the mutants as a Markdown table (docs/security.md)"
    )
    parser.add_argument("--timeout", type=float, default=TIMEOUT_SECONDS)
    args = parser.parse_args(argv)
    chosen = [m for m in MUTANTS if not args.k or any(k in m.name for k in args.k)]
    if args.table:
        print("| mutant | the check it removes | killed by |")
        print("|---|---|---|")
        for m in chosen:
            tests = [k.split("::")[-1] for k in m.kills]
            by = (
                f"equivalent: {m.equivalent}"
                if m.equivalent
                else ", ".join(f"`{t}`" for t in tests)
            )
            print(f"| `{m.name}` | {m.what} | {by} |")
        return 0
    if args.list:
        missing = 0
        for m in chosen:
            kills = f"equivalent: {m.equivalent}" if m.equivalent else ", ".join(m.kills)
            at = _where(m)
            missing += at is None
            print(f"{m.name:34} {at or m.path + ': TEXT NOT FOUND ONCE':44} {kills}")
        return 1 if missing else 0
    return run(chosen, args.suite, args.timeout, without=args.without)


if __name__ == "__main__":
    sys.exit(main())
