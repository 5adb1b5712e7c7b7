"""The ``files`` group: listing, reading, searching and finding the shared files, and the
``file_changed`` event. Changing files is the ``changes`` group.
"""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import Field

from letswork.shared import limits
from letswork.shared.errors import ErrorCode as _E
from letswork.shared.protocol.base import (
    ALL_ROLES,
    MAX_ID,
    Count,
    DisplayName,
    EventSpec,
    FilePath,
    LockInfo,
    MaxResults,
    NonEmptyShortText,
    OpSpec,
    RelPath,
    Sha256,
    WireModel,
    op,
)


class Entry(WireModel):
    """One item of a directory listing. ``size`` is in bytes (0 for a directory)."""

    path: FilePath
    kind: Literal["file", "dir", "symlink"]
    size: Count
    lock: LockInfo | None = None


class SearchMatch(WireModel):
    """One matching line; ``line`` counts from 1."""

    path: FilePath
    line: Annotated[int, Field(ge=1, le=MAX_ID)]
    text: str


class ListFilesArgs(WireModel):
    path: RelPath = ""
    recursive: bool = False
    depth: Annotated[int, Field(ge=1, le=64)] | None = None


class ListFilesResult(WireModel):
    entries: list[Entry]
    truncated: bool


class ReadFileArgs(WireModel):
    path: FilePath
    offset: Count = 0
    limit: Annotated[int, Field(ge=1, le=100_000)] | None = None
    #: The most characters of ``text`` the reader will show (issue 15, item 4): the hub cuts the
    #: page after its last whole line within them, or, when the first line alone is longer, to
    #: that line's start (``line_cut``). Absent: the page is not cut (older channels).
    max_chars: Annotated[int, Field(ge=1, le=limits.MAX_PAGE_CHARS)] | None = None


class ReadFileResult(WireModel):
    path: FilePath
    text: str
    sha256: Sha256
    offset: Count
    lines: Count
    total_lines: Count
    size: Count
    truncated: bool
    #: ``text`` is only the start of line ``offset + 1``, which alone is longer than
    #: ``max_chars`` (``lines`` is then 1). Sent only when true, so only to a reader that gave
    #: ``max_chars``: an older channel, which refuses unknown fields, never sees it.
    line_cut: bool | None = None


class SearchFilesArgs(WireModel):
    pattern: NonEmptyShortText
    path: RelPath = ""
    regex: bool = False
    glob: NonEmptyShortText | None = None
    case_sensitive: bool = False
    max_results: MaxResults = 200


class SkippedFile(WireModel):
    """A file a search did not read, and why: ``too_large`` (over the hub's text-file limit,
    ``MAX_TEXT_FILE_BYTES``); ``size`` in bytes."""

    path: FilePath
    size: Count
    reason: Literal["too_large"]


class SearchFilesResult(WireModel):
    matches: list[SearchMatch]
    truncated: bool
    files_scanned: Count
    #: The search stopped at its deadline (``SEARCH_DEADLINE_SECONDS``) before every file was
    #: searched; absent from older hubs.
    cut_short: bool = False
    #: The first ``MAX_SEARCH_SKIPPED_NAMED`` files the search skipped as too large, in path
    #: order (issue 16); absent when none was, and from older hubs.
    skipped: list[SkippedFile] = Field(
        default_factory=list, max_length=limits.MAX_SEARCH_SKIPPED_NAMED
    )
    #: How many files it skipped as too large in all (``skipped`` names at most the first
    #: ``MAX_SEARCH_SKIPPED_NAMED``).
    skipped_count: Count = 0


class FindFilesArgs(WireModel):
    glob: NonEmptyShortText
    path: RelPath = ""
    max_results: MaxResults = 200


class FindFilesResult(WireModel):
    paths: list[FilePath]
    truncated: bool


class StatFileArgs(WireModel):
    path: FilePath


class StatFileResult(WireModel):
    """What a change needs to know of a file without reading it: ``size`` in bytes,
    ``sha256`` of the whole file (the ``base_sha256`` of a later change), ``text`` true when
    the file is UTF-8 without NUL (``read_file`` can read it), ``total_lines`` its lines (0
    when not ``text``), and the ``lock`` on the path, if any."""

    path: FilePath
    size: Count
    sha256: Sha256
    text: bool
    total_lines: Count
    lock: LockInfo | None = None


class FileChangedData(WireModel):
    path: FilePath
    change: Literal["created", "modified", "deleted"]
    by: DisplayName | None = None


#: ``forbidden`` of its own: nobody reads git metadata, the host included (issue 13, item 1).
_FILE_READ_ERRORS = (_E.NOT_FOUND, _E.NOT_SHARED, _E.FORBIDDEN, _E.DISK_ERROR)


OPS: tuple[OpSpec, ...] = (
    op(
        "list_files",
        ListFilesArgs,
        ListFilesResult,
        ALL_ROLES,
        "List a directory, optionally recursively.",
        group="files",
        errors=(*_FILE_READ_ERRORS, _E.NOT_A_FILE),
    ),
    op(
        "read_file",
        ReadFileArgs,
        ReadFileResult,
        ALL_ROLES,
        "Read a text file, or a page of its lines.",
        group="files",
        errors=(*_FILE_READ_ERRORS, _E.NOT_A_FILE, _E.BINARY_FILE, _E.TOO_LARGE),
    ),
    op(
        "search_files",
        SearchFilesArgs,
        SearchFilesResult,
        ALL_ROLES,
        "Search the shared text files for a string or regular expression.",
        group="files",
        errors=_FILE_READ_ERRORS,
    ),
    op(
        "find_files",
        FindFilesArgs,
        FindFilesResult,
        ALL_ROLES,
        "Find shared paths matching a glob.",
        group="files",
        errors=_FILE_READ_ERRORS,
    ),
    op(
        "stat_file",
        StatFileArgs,
        StatFileResult,
        ALL_ROLES,
        "Size, sha256, line count and lock of a file, without its text.",
        group="files",
        errors=(*_FILE_READ_ERRORS, _E.NOT_A_FILE, _E.TOO_LARGE),
    ),
)

EVENTS: tuple[EventSpec, ...] = (
    EventSpec("file_changed", FileChangedData, "A shared file was created, modified or deleted."),
)
