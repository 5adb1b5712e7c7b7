"""The files group: ``list_files``, ``read_file``, ``search_files`` and ``find_files``.

Each handler yields its file work (a walk, a read, a search) to a worker thread.
"""

from __future__ import annotations

from letswork.hub.peers import Peer
from letswork.hub.state import Handler, HubState, Steps
from letswork.shared.protocol.files import (
    FindFilesArgs,
    FindFilesResult,
    ListFilesArgs,
    ListFilesResult,
    ReadFileArgs,
    ReadFileResult,
    SearchFilesArgs,
    SearchFilesResult,
)

#: ops whose file work is a search or a walk: long (up to the search deadline), so they get
#: their own worker threads (``Job.search``).
SEARCH_OPS = frozenset({"search_files", "find_files", "list_files"})


def list_files(
    ctx: HubState, peer: Peer, args: ListFilesArgs, now: float
) -> Steps[ListFilesResult]:
    should_stop = ctx.deadline(peer)
    entries, truncated = yield lambda: ctx.workspace.list_files(
        args.path,
        recursive=args.recursive,
        depth=args.depth,
        is_host=peer.is_host,
        should_stop=should_stop,
    )
    held = {lock.key: lock for lock in ctx.locks.all(now)}
    return ListFilesResult.model_validate(
        {
            "entries": [
                {
                    "path": e.path,
                    "kind": e.kind,
                    "size": e.size,
                    "lock": ctx.lock_info(held[ctx.locks.key(e.path)])
                    if ctx.locks.key(e.path) in held
                    else None,
                }
                for e in entries
            ],
            "truncated": truncated,
        }
    )


def read_file(ctx: HubState, peer: Peer, args: ReadFileArgs, now: float) -> Steps[ReadFileResult]:
    page: ReadFileResult = yield lambda: ctx.workspace.read_file(
        args.path,
        offset=args.offset,
        limit=args.limit,
        max_chars=args.max_chars,
        is_host=peer.is_host,
    )
    return page


def search_files(
    ctx: HubState, peer: Peer, args: SearchFilesArgs, now: float
) -> Steps[SearchFilesResult]:
    should_stop = ctx.deadline(peer)
    found: SearchFilesResult = yield lambda: ctx.workspace.search_files(
        args.pattern,
        path=args.path,
        regex=args.regex,
        glob=args.glob,
        case_sensitive=args.case_sensitive,
        max_results=args.max_results,
        is_host=peer.is_host,
        should_stop=should_stop,
    )
    return found


def find_files(
    ctx: HubState, peer: Peer, args: FindFilesArgs, now: float
) -> Steps[FindFilesResult]:
    should_stop = ctx.deadline(peer)
    paths, truncated = yield lambda: ctx.workspace.find_files(
        args.glob,
        path=args.path,
        max_results=args.max_results,
        is_host=peer.is_host,
        should_stop=should_stop,
    )
    return FindFilesResult(paths=paths, truncated=truncated)


#: This group's ops, by name.
HANDLERS: dict[str, Handler] = {
    "list_files": list_files,
    "read_file": read_file,
    "search_files": search_files,
    "find_files": find_files,
}
