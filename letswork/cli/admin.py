"""Host admin commands: they talk to the folder's running hub over the protocol, as the host.

``letswork status | pending | diff | approve | reject | invite | invites | revoke | kick |
admit | deny | trust | untrust | stop``. Each finds the hub of ``--project`` (default: the
current folder) through its ``hub.json``, authenticates with the host key (0600 in the state
directory), runs one request and prints the result. Errors become one line and an exit code in
:func:`letswork.cli._common.run`. Output goes through the one printer (:mod:`letswork.ui.printer`);
names, paths, labels and reasons are put on one line each with :func:`printer.one_line`, diffs
are printed cleaned (a terminal cannot show a file's invisible characters anyway), and
``--json`` output escapes every non-ASCII character (``json.dumps``), so it stays exact.
"""

from __future__ import annotations

import json
import re
import sys
import time
from pathlib import Path
from typing import Any, NoReturn

import click

from letswork.cli._common import fail, run
from letswork.cli.reviewed import MIN_PROPOSAL_PREFIX, confirm_reviewed, proposal_line
from letswork.shared.errors import LetsworkError, OpError, TransportError, UsageError
from letswork.shared.limits import MAX_INVITE_EXPIRY_SECONDS, MAX_INVITE_USES
from letswork.ui import printer
from letswork.ui.printer import one_line

PROJECT_OPTION = click.option(
    "--project",
    "project",
    type=click.Path(file_okay=False, path_type=Path),
    default=".",
    show_default="the current folder",
    help="The shared folder whose hub to talk to.",
)


async def host_call(
    project: Path,
    op: str,
    args: dict[str, Any] | None = None,
    *,
    more: tuple[tuple[str, dict[str, Any]], ...] = (),
    extra: list[dict[str, Any]] | None = None,
) -> dict[str, Any]:
    """Connect to ``project``'s (resolved path) running hub as the host, run one op (then the
    ops of ``more`` on the same connection, their results appended to ``extra``); see
    :func:`host_calls`."""
    results = await host_calls(project, [(op, args or {}), *more])
    if extra is not None:
        extra.extend(results[1:])
    return results[0]


async def host_calls(
    project: Path, calls: list[tuple[str, dict[str, Any]]]
) -> list[dict[str, Any]]:
    """Connect to ``project``'s (resolved path) running hub as the host, run the ops in turn
    on one connection, return their results. Each result has every field of the op's result
    model (a hub leaves out the optional ones that hold their default), so the texts and
    ``--json`` keep one shape.

    Raises:
        UsageError: no hub is running for the folder.
        TransportError / OpError: the hub is unreachable or refused the op.
    """
    from letswork.client.connection import HubConnection
    from letswork.local import statedir
    from letswork.local.hubinfo import hub_info

    root = project
    info = hub_info(root)
    if info is None:
        raise UsageError(f"no hub is running for {root}; start one there with `letswork start`")
    secret = statedir.read_secret_file(statedir.project_state(root).host_key_path)
    url = info.get("host_url") or info["local_url"]  # the Unix socket strangers cannot reach
    conn = HubConnection(str(url), secret, name="host", client="letswork-cli")
    try:
        await conn.connect(timeout=5)
    except TransportError as exc:
        raise TransportError(
            f"the hub for {root} (pid {info.get('pid')}) is not answering: {exc.message}"
        ) from None
    try:
        return [(await conn.call(op, args)).model_dump(mode="json") for op, args in calls]
    finally:
        await conn.close()


def _call(project: Path, op: str, args: dict[str, Any] | None = None) -> dict[str, Any]:
    root = project.resolve()

    async def body() -> dict[str, Any]:
        return await host_call(root, op, args)

    return run(body)


#: What a hub started by a letswork older than invite limits (issue 16) refuses as unknown.
OLDER_HUB_FIELDS = ("args.uses", "args.expires_in")
OLDER_HUB_INVITE = (
    "the running hub was started by an older letswork, which knows no invite uses or expiry "
    "(its invites let anyone in, forever); no invite was made: restart it (`letswork stop`, "
    "then `letswork start`) and run this again"
)

_DURATION = re.compile(r"^\s*(\d{1,7})\s*([smhd])\s*$", re.IGNORECASE)
_UNIT_SECONDS = {"s": 1, "m": 60, "h": 3600, "d": 86400}


def parse_duration(text: str) -> float:
    """Seconds in a duration such as ``90s``, ``30m``, ``2h`` or ``7d`` (one number, one unit).

    Raises ``ValueError`` with a message for a person: not of that form, zero, or over
    MAX_INVITE_EXPIRY_SECONDS.
    """
    m = _DURATION.match(text)
    if m is None:
        raise ValueError(
            f"{one_line(text, 40)!r} is not a duration; write a number and a unit: "
            "30m, 2h or 7d (s, m, h, d)"
        )
    seconds = int(m.group(1)) * _UNIT_SECONDS[m.group(2).lower()]
    if seconds <= 0:
        raise ValueError("the duration must be more than zero")
    if seconds > MAX_INVITE_EXPIRY_SECONDS:
        raise ValueError(f"at most {MAX_INVITE_EXPIRY_SECONDS // 86400}d")
    return float(seconds)


def _decide(project: Path, op: str, args: dict[str, Any], verb: str) -> dict[str, Any]:
    """Run ``op`` (reject; approvals go through :func:`letswork.cli.reviewed.confirm_reviewed`)
    on a pending change and return it. A change decided already is left alone: the command
    says what it was and exits 1."""
    root = project.resolve()

    async def body() -> tuple[dict[str, Any], bool]:
        before = (await host_call(root, "get_change", {"id": args["id"]}))["change"]
        if before["status"] not in ("pending", "conflict"):
            return before, True
        result = await host_call(root, op, args)
        return result["change"], False

    change, decided = run(body)
    if decided:
        _already_decided(change, verb)
    return change


def _already_decided(change: dict[str, Any], verb: str) -> NoReturn:
    """Say what a change decided already was, and exit 1: approve and reject leave it alone."""
    printer.echo(_change_line(change))
    printer.echo(
        f"letswork: nothing to {verb}: change {one_line(str(change['id']), 64)} was "
        f"already {change['status']}",
        err=True,
    )
    raise SystemExit(1)


async def _with_proposals(root: Path, op: str, args: dict[str, Any]) -> dict[str, Any]:
    """``op`` (``get_change``, ``pending_changes``) with each change's ``proposal_sha256``
    (none from an older hub, asked again without the argument it refused)."""
    try:
        return await host_call(root, op, {**args, "include_proposal": True})
    except OpError as exc:
        if exc.data.get("reason") != "extra_field":
            raise
        return await host_call(root, op, args)


async def _change_with_proposal(root: Path, change_id: str) -> dict[str, Any]:
    """``get_change`` of ``change_id`` with its ``proposal_sha256`` (:func:`_with_proposals`)."""
    return dict((await _with_proposals(root, "get_change", {"id": change_id}))["change"])


def _approve_reviewed(project: Path, change_id: str, expected: str | None) -> dict[str, Any]:
    """Approve change ``change_id`` (with ``merge``) by the proposal the host reviewed
    (:func:`letswork.cli.reviewed.confirm_reviewed`); returns the whole result. A change
    decided already is left alone: the command says what it was and exits 1."""
    root = project.resolve()
    change = run(lambda: _change_with_proposal(root, change_id))
    if change["status"] not in ("pending", "conflict"):
        _already_decided(change, "approve")
    try:
        digest = confirm_reviewed(change, expected, _change_line(change))
    except LetsworkError as exc:
        raise SystemExit(fail(exc)) from None
    args: dict[str, Any] = {"id": change_id, "merge": True}
    if digest is not None:
        args["proposal_sha256"] = digest
    return run(lambda: host_call(root, "approve_change", args))


def _approve_merged(
    project: Path,
    change: dict[str, Any],
    merge: dict[str, Any],
    args: dict[str, Any],
    merge_ok: bool,
) -> dict[str, Any]:
    """A clean merge the hub showed (issue 17 part 2): print its diff against the current file,
    then write exactly that (bound by the file's and the merged text's sha256) with
    ``--merge`` or a yes at a terminal; otherwise exit 1 with nothing written."""
    how = (
        "its edit still applies exactly"
        if merge["outcome"] == "edit"
        else "it merges cleanly with those changes"
    )
    printer.echo(_change_line(change))
    printer.echo(
        f"{one_line(str(change['path']), 120)} changed since this was proposed, and {how}. "
        "The merged result, against the current file:",
        err=True,
    )
    printer.echo(merge.get("diff") or "")
    if not merge_ok and not (
        sys.stdin.isatty() and click.confirm("Write this merged result?", default=False)
    ):
        printer.echo(
            f"letswork: nothing written; `letswork approve {one_line(str(change['id']), 64)} "
            "--merge` writes the merged result",
            err=True,
        )
        raise SystemExit(1)
    bound = {
        **args,
        "current_sha256": merge["current_sha256"],
        "merged_sha256": merge["merged_sha256"],
    }
    root = project.resolve()
    result = run(lambda: host_call(root, "approve_change", bound))
    if result["change"]["status"] == "pending":  # the file moved on again meanwhile
        printer.echo(
            "letswork: the file changed again while the merge was shown; nothing written. "
            "Run approve again to see the new merge.",
            err=True,
        )
        raise SystemExit(1)
    return dict(result["change"])


def _peer_lines(status: dict[str, Any]) -> list[str]:
    """One line per person: this command's own connection left out, the host's connections
    (dashboard, assistant, other commands) on one line."""
    me = status["you"]["peer_id"]
    others = [p for p in status["peers"] if p["peer_id"] != me]
    hosts = [p for p in others if p["role"] == "host"]
    lines = []
    if hosts or status["you"]["role"] == "host":
        n = len(hosts)
        more = f" ({n} connections: dashboard, assistant)" if n > 1 else ""
        lines.append(f"  {'host':<16} {'host':<7} online{more}")
    for p in others:
        if p["role"] == "host":
            continue
        flag = " (trusted)" if p["trusted"] else ""
        lines.append(f"  {one_line(p['name'], 32):<16} {p['role']:<7} {p['state']}{flag}")
    if status["you"]["role"] != "host":
        you = status["you"]
        lines.append(f"  {one_line(you['name'], 32):<16} {you['role']:<7} online (you)")
    return lines


def _only_session(project: Path) -> str:
    """The stored session a guest means when no hub runs in ``project``.

    Raises:
        UsageError: no session is stored, or several are (name one with ``--session``).
    """
    from letswork.channel import sessions

    stored = sessions.list_sessions()
    if not stored:
        raise_usage = (
            f"no hub is running for {project} and no session is stored; start a hub with "
            "`letswork start`, or join one with `letswork join CODE`"
        )
        raise SystemExit(fail(UsageError(raise_usage)))
    if len(stored) > 1:
        names = ", ".join(stored)
        raise SystemExit(
            fail(
                UsageError(
                    f"no hub is running for {project}; pick a session: --session "
                    f"NAME (stored: {names})"
                )
            )
        )
    return stored[0]


async def guest_call(session: str, op: str, args: dict[str, Any] | None = None) -> dict[str, Any]:
    """Connect with the stored guest ``session``'s resume credential and run one op (never
    with its invite: that would put a new guest in the host's waiting room).

    Raises:
        UsageError: no such session, or one the host has not admitted yet.
        TransportError / HandshakeError / OpError: the hub is unreachable, refused the
            credential, or refused the op (a guest not admitted yet cannot ask much).
    """
    from letswork.channel import sessions
    from letswork.client.connection import HubConnection

    record = sessions.load_session(session)
    if record.resume_secret is None:
        raise UsageError(
            f"session {session!r} has not been admitted yet: run `letswork join` again and wait "
            "for the host"
        )
    conn = HubConnection(
        record.url, record.resume_secret, name=record.name or "guest", client="letswork-cli"
    )
    try:
        await conn.connect(timeout=10)
    except TransportError as exc:
        raise TransportError(
            f"the hub of session {session!r} ({record.url}) is not answering: {exc.message}"
        ) from None
    try:
        return (await conn.call(op, args or {})).model_dump(mode="json")
    finally:
        await conn.close()


def _echo_json(data: Any) -> None:
    printer.echo(json.dumps(data, indent=2, sort_keys=True))


#: The header row of `letswork pending`, aligned with :func:`_change_line`.
PENDING_HEADER = f"{'ID':<16}  {'STATUS':<8} {'KIND':<6} {'AUTHOR':<16} PATH"


def _change_line(change: dict[str, Any]) -> str:
    target = change["path"] + (f" -> {change['new_path']}" if change.get("new_path") else "")
    line = (
        f"{one_line(str(change['id']), 64)}  {change['status']:<8} {change['kind']:<6} "
        f"{one_line(str(change['author']), 32):<16} {one_line(target, 120)}"
    )
    if change.get("sensitive"):  # a newer hub's mark: alters sharing or runs code on the host
        line += f"  [sensitive: {one_line(str(change['sensitive']), 300)}]"
    return line


def register(main: click.Group) -> None:
    """Add the admin commands to the ``letswork`` group."""

    @main.command()
    @PROJECT_OPTION
    @click.option(
        "--session",
        "session_name",
        metavar="NAME",
        help="As a guest: the stored session to ask (default: the folder's hub if one runs, "
        "else your only stored session).",
    )
    @click.option("--json", "as_json", is_flag=True, help="Machine-readable output.")
    def status(project: Path, session_name: str | None, as_json: bool) -> None:
        """Show who is connected, the known guests who are offline, the locks and the number
        of pending changes."""
        from letswork.local.hubinfo import hub_info

        root = project.resolve()
        offline: list[dict[str, Any]] = []
        if session_name is None and hub_info(root) is not None:
            extra: list[dict[str, Any]] = []

            async def body() -> dict[str, Any]:
                try:
                    return await host_call(
                        root, "status", more=(("list_peers", {"offline": True}),), extra=extra
                    )
                except OpError as exc:  # a hub older than offline people: status without them
                    if exc.data.get("reason") != "extra_field":
                        raise
                    extra.clear()
                    return await host_call(root, "status")

            result, where = run(body), None
            offline = [p for p in (extra[0]["peers"] if extra else []) if p["state"] == "offline"]
        else:
            session = session_name or _only_session(root)
            result, where = run(lambda: guest_call(session, "status")), session
        if as_json:
            _echo_json({**result, "offline": offline})
            return
        printer.echo(f"project: {one_line(result['project'])}")
        if where is not None:
            you = result["you"]
            printer.echo(f"you: {one_line(you['name'], 32)} ({you['role']}, session {where!r})")
        printer.echo(f"pending changes: {result['pending']}")
        printer.echo("peers:")
        for line in _peer_lines(result):
            printer.echo(line)
        if offline:
            printer.echo("offline:")
            for p in offline:
                since = p.get("offline_since")
                when = f"since {time.strftime('%H:%M UTC', time.gmtime(since))}" if since else ""
                printer.echo(f"  {one_line(p['name'], 32):<16} {p['role']:<7} offline {when}")
        if result["locks"]:
            printer.echo("locks:")
            for lock in result["locks"]:
                printer.echo(f"  {one_line(lock['path'], 120)}  held by {one_line(lock['holder'])}")

    @main.command()
    @PROJECT_OPTION
    @click.option("--json", "as_json", is_flag=True, help="Machine-readable output (with diffs).")
    def pending(project: Path, as_json: bool) -> None:
        """List the changes waiting for your approval: ID, author, path, summary (--json: and
        each one's diff and proposal_sha256, for `letswork approve ID --proposal`)."""
        root = project.resolve()
        result = run(lambda: _with_proposals(root, "pending_changes", {"include_diff": as_json}))
        if as_json:
            _echo_json(result["changes"])
            return
        if not result["changes"]:
            printer.echo("no pending changes")
            return
        printer.echo(PENDING_HEADER)
        for change in result["changes"]:
            printer.echo(_change_line(change))

    @main.command()
    @PROJECT_OPTION
    @click.argument("change_id")
    def diff(project: Path, change_id: str) -> None:
        """Show the unified diff of change CHANGE_ID."""
        root = project.resolve()
        change = run(lambda: _change_with_proposal(root, change_id))
        printer.echo(_change_line(change))
        shown = proposal_line(change)
        if shown is not None and change["status"] in ("pending", "conflict"):
            short = str(change["proposal_sha256"])[:MIN_PROPOSAL_PREFIX]
            printer.echo(f"{shown}  (approve it: letswork approve {change_id} --proposal {short})")
        if change.get("reason"):  # why it was rejected (by the host, or by a kick)
            printer.echo(f"reason: {one_line(str(change['reason']), 300)}")
        if change.get("data_pruned"):
            printer.echo(
                "(decided long ago: the hub keeps the diff of only its newest decided changes, "
                "and this one's was pruned)"
            )
            return
        printer.echo(change.get("diff") or "")

    @main.command()
    @PROJECT_OPTION
    @click.argument("change_id")
    @click.option(
        "--merge",
        "merge_ok",
        is_flag=True,
        help="If the file changed since the proposal and the change merges cleanly with it, "
        "write the merged result (its diff is printed first). Without it a terminal is asked.",
    )
    @click.option(
        "--proposal",
        "expected",
        metavar="SHA256",
        default=None,
        help="The proposal you reviewed, as `letswork diff` prints it (its first 16 characters "
        "are enough): a change resubmitted since is refused. Without it a terminal shows the "
        "change and asks; a script approves the change as it is now.",
    )
    def approve(project: Path, change_id: str, merge_ok: bool, expected: str | None) -> None:
        """Approve change CHANGE_ID as reviewed: the hub writes it to disk, merges it with the
        file's changes since (shown, and written with --merge or a yes), or reports a
        conflict. A change its author resubmitted since it was shown is refused."""
        result = _approve_reviewed(project, change_id, expected)
        change, merge = result["change"], result.get("merge")
        args: dict[str, Any] = {"id": change_id, "merge": True}
        if change.get("proposal_sha256"):  # the merge is approved by the same proposal
            args["proposal_sha256"] = change["proposal_sha256"]
        if change["status"] == "pending" and merge and merge.get("merged_sha256"):
            change = _approve_merged(project, change, merge, args, merge_ok)
        printer.echo(_change_line(change))
        if change.get("reason") and change["status"] == "applied":
            printer.echo(one_line(str(change["reason"]), 300))
        if change["status"] == "conflict":
            where = f" ({one_line(str(change['reason']), 300)})" if change.get("reason") else ""
            printer.echo(
                f"the file changed since the guest proposed this{where}; nothing was written. "
                "The guest can fix it with update_change. The conflict:",
                err=True,
            )
            printer.echo(change.get("diff") or "")
            raise SystemExit(1)

    @main.command()
    @PROJECT_OPTION
    @click.argument("change_id")
    @click.option("--reason", default=None, help="Told to the guest.")
    def reject(project: Path, change_id: str, reason: str | None) -> None:
        """Reject change CHANGE_ID; the disk is left as it is."""
        args = {"id": change_id, "reason": reason}
        change = _decide(project, "reject_change", args, "reject")
        printer.echo(_change_line(change))

    @main.command()
    @PROJECT_OPTION
    @click.option(
        "--role", type=click.Choice(["editor", "viewer"]), default="editor", show_default=True
    )
    @click.option("--label", default=None, help="A name for the invite (to revoke it by).")
    @click.option(
        "--uses",
        type=click.IntRange(1, MAX_INVITE_USES),
        default=1,
        show_default=True,
        help="How many people may join with it (each becomes their own identity).",
    )
    @click.option(
        "--expires",
        "expires",
        metavar="DURATION",
        default=None,
        help="Nobody new may join with it after this long: 30m, 2h, 7d (at most 30d).",
    )
    def invite(project: Path, role: str, label: str | None, uses: int, expires: str | None) -> None:
        """Create one more invite for USES people (default one); give each person their own,
        so revoking one spares the rest. People it admitted keep their way back in after it is
        used up or expires (their stored session)."""
        args: dict[str, Any] = {"role": role, "label": label, "uses": uses}
        if expires is not None:
            try:
                args["expires_in"] = parse_duration(expires)
            except ValueError as exc:
                sys.exit(fail(UsageError(f"--expires: {exc}")))
        root = project.resolve()

        async def body() -> dict[str, Any]:
            try:
                return await host_call(root, "create_invite", args)
            except OpError as exc:
                field = exc.data.get("field")
                if exc.data.get("reason") == "extra_field" and field in OLDER_HUB_FIELDS:
                    raise LetsworkError(OLDER_HUB_INVITE) from None
                raise

        result = run(body)
        printer.echo(f"letswork join {one_line(result['code'])}")
        until = result.get("expires_at")
        note = f"for {uses} {'person' if uses == 1 else 'people'}"
        if until is not None:
            note += ", until " + time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime(until))
        printer.echo(f"(invite {result['invite_id'][:12]}: {note})", err=True)

    @main.command()
    @PROJECT_OPTION
    @click.option("--json", "as_json", is_flag=True)
    def invites(project: Path, as_json: bool) -> None:
        """List the invites of this session (ids, roles, labels, uses)."""
        result = _call(project, "list_invites")
        if as_json:
            _echo_json(result["invites"])
            return
        now = time.time()
        for inv in result["invites"]:
            if inv["revoked"]:
                state = "revoked"
            elif inv.get("expires_at") is not None and now >= inv["expires_at"]:
                state = "expired"
            elif not inv.get("live", True):
                state = "used up"
            else:
                state = "active"
            label = one_line(inv["label"] or "-", 64)
            limit = inv.get("max_uses")
            uses = f"{inv['uses']}/{limit}" if limit is not None else str(inv["uses"])
            printer.echo(
                f"{inv['invite_id'][:12]}  {inv['role']:<6} {state:<7} uses={uses} {label}"
            )

    @main.command()
    @PROJECT_OPTION
    @click.argument("invite")
    def revoke(project: Path, invite: str) -> None:
        """Revoke INVITE (any unique prefix of an id from `letswork invites`, or a label).

        Everyone who joined with it is disconnected and cannot come back with it.
        """
        hexdigits = set("0123456789abcdef")
        # The hub tries an all-hex INVITE as an id prefix first, then as a label.
        args = (
            {"invite_id": invite.lower()}
            if invite and len(invite) <= 128 and set(invite.lower()) <= hexdigits
            else {"label": invite}
        )
        result = _call(project, "revoke_invite", args)
        gone = ", ".join(one_line(n) for n in result["disconnected"]) or "nobody"
        if not result["revoked"]:
            printer.echo(f"{result['invite_id'][:12]} was already revoked; disconnected: {gone}")
            return
        printer.echo(f"revoked {result['invite_id'][:12]}; disconnected: {gone}")

    def _named(op: str, doc: str) -> None:
        @main.command(name=op, help=doc)
        @PROJECT_OPTION
        @click.argument("name")
        def command(project: Path, name: str) -> None:
            result = _call(project, op, {"name": name})
            printer.echo(f"{op}: {one_line(result['name'])}")

    _named("admit", "Let NAME, who is waiting for admission, into the session.")
    _named("trust", "Apply NAME's changes at once, without asking (editors; online or offline).")
    _named("untrust", "Put NAME's changes back in the approval queue (online or offline).")

    @main.command()
    @PROJECT_OPTION
    @click.argument("name")
    @click.option("--reason", default=None, help="Told to the guest.")
    def kick(project: Path, name: str, reason: str | None) -> None:
        """Remove NAME (online or offline) for good: disconnected, pending changes rejected,
        locks released, their stored session stops working, and their invite lets nobody in
        without your admission again (a one-use invite is revoked)."""
        result = _call(project, "kick", {"name": name, "reason": reason})
        printer.echo(f"kicked: {one_line(result['name'])}")

    @main.command()
    @PROJECT_OPTION
    @click.argument("name")
    @click.option("--reason", default=None, help="Told to the guest.")
    def deny(project: Path, name: str, reason: str | None) -> None:
        """Refuse NAME, who is waiting for admission."""
        result = _call(project, "deny", {"name": name, "reason": reason})
        printer.echo(f"denied: {one_line(result['name'])}")

    @main.command()
    @PROJECT_OPTION
    def stop(project: Path) -> None:
        """Stop the folder's hub (as Ctrl+C in `letswork start` would)."""
        _call(project, "shutdown")
        printer.echo("the hub is stopping")
