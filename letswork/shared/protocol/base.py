"""What every group module builds on: the model base, the field types, the records several
groups share, and the catalogue's entry types.

- :class:`WireModel`, the base of every message model: frozen, strict, no unknown fields;
- the field types (``FilePath``, ``DisplayName``, ``Timestamp``, ...) with their limits and
  validators, and the roles (``ALL_ROLES``, ``HOST_ONLY``, ``WRITERS``);
- the records used by more than one group: :class:`Empty`, :class:`LockInfo`,
  :class:`NameArgs`, :class:`NameResult`, :class:`ReasonData` (a record one group uses lives
  in that group's module);
- :class:`OpSpec` and :class:`EventSpec`, which each group module lists in its ``OPS`` and
  ``EVENTS``, and :func:`op`, the short way to write an :class:`OpSpec`.
"""

from __future__ import annotations

import dataclasses
import re
from typing import Annotated, Any, Literal

from pydantic import BaseModel, BeforeValidator, ConfigDict, Field
from pydantic_core import PydanticCustomError

from letswork.shared import limits
from letswork.shared.errors import ErrorCode

#: Largest request id and event sequence number: the largest integer a JSON number carries
#: exactly in every implementation (2**53 - 1, as in JavaScript's ``Number.MAX_SAFE_INTEGER``).
MAX_ID = 2**53 - 1

Role = Literal["host", "editor", "viewer"]

ALL_ROLES: frozenset[str] = frozenset({"host", "editor", "viewer"})
HOST_ONLY: frozenset[str] = frozenset({"host"})
WRITERS: frozenset[str] = frozenset({"host", "editor"})

# --------------------------------------------------------------------------------------------
# Field types shared by the models.
# --------------------------------------------------------------------------------------------

_SURROGATE = re.compile("[\ud800-\udfff]")


def _file_text(value: Any) -> Any:
    """Refuse file content with an unpaired surrogate as ``binary_file``, the code the hub gives
    content that is not UTF-8 text (elsewhere pydantic refuses it as ``string_unicode``)."""
    # An ASCII string (an O(1) flag in CPython) has no surrogate, and encoding is ~10x faster
    # than scanning 1 MiB with the regex; the regex only runs on text that fails to encode.
    if (
        isinstance(value, str)
        and not value.isascii()
        and not _encodes(value)
        and _SURROGATE.search(value)
    ):
        raise PydanticCustomError(
            "binary_content", "content is not valid UTF-8 text (unpaired surrogate)"
        )
    return value


def _encodes(value: str) -> bool:
    try:
        value.encode("utf-8")
    except UnicodeEncodeError:
        return False
    return True


_FileTextCheck = BeforeValidator(_file_text)

#: A path relative to the project root, ``/``-separated; ``""`` is the root. The hub's
#: ``safe_join`` decides whether it is acceptable; here only its length is checked.
RelPath = Annotated[str, Field(max_length=limits.MAX_PATH_CHARS)]
#: A relative path that must name something below the root (not empty).
FilePath = Annotated[str, Field(min_length=1, max_length=limits.MAX_PATH_CHARS)]
#: A SHA-256 digest as 64 lowercase hex digits.
Sha256 = Annotated[str, Field(pattern=r"^[0-9a-f]{64}$")]
#: A display name (design section 6). Reserved names are the hub's business.
DisplayName = Annotated[
    str,
    Field(
        min_length=1,
        max_length=limits.MAX_DISPLAY_NAME_CHARS,
        pattern=r"^[A-Za-z0-9 ._-]+$",
    ),
]
#: Opaque identifiers chosen by the hub (peer ids, change ids).
Ident = Annotated[str, Field(min_length=1, max_length=64)]
#: Lowercase hex tokens chosen by the hub (invite ids).
HexToken = Annotated[str, Field(pattern=r"^[0-9a-f]{1,128}$")]
#: A credential secret the hub mints (resume secrets): 16 to 64 bytes as lowercase hex, an even
#: number of digits, the form a session file stores (the hub mints 32 bytes).
SecretHex = Annotated[str, Field(pattern=r"^(?:[0-9a-f]{2}){16,64}$")]
#: Short free text: reasons, patterns, globs.
ShortText = Annotated[str, Field(max_length=limits.MAX_SHORT_TEXT_CHARS)]
NonEmptyShortText = Annotated[str, Field(min_length=1, max_length=limits.MAX_SHORT_TEXT_CHARS)]
#: Invite labels.
Label = Annotated[str, Field(min_length=1, max_length=64)]
#: Free-form names of software (client, hub version); may be empty.
SoftwareName = Annotated[str, Field(max_length=64)]
#: Whole-file text sent by a peer; the hub re-checks the limit in bytes of UTF-8.
FileText = Annotated[str, Field(max_length=limits.MAX_FILE_BYTES_CEILING), _FileTextCheck]
NonEmptyFileText = Annotated[
    str, Field(min_length=1, max_length=limits.MAX_FILE_BYTES_CEILING), _FileTextCheck
]
#: The latest timestamp a message may carry: 9999-12-31T23:59:59Z, the last second that
#: ``time.gmtime`` and ``datetime`` can render on every platform.
MAX_TIMESTAMP = 253_402_300_799.0
#: Seconds since the Unix epoch.
Timestamp = Annotated[float, Field(ge=0, le=MAX_TIMESTAMP)]
#: Sizes, counts, line numbers and sequence numbers.
Count = Annotated[int, Field(ge=0, le=MAX_ID)]
MaxResults = Annotated[int, Field(ge=1, le=limits.MAX_RESULTS)]
#: Ids the hub gives messages and tasks (positive integers).
RowId = Annotated[int, Field(ge=1, le=MAX_ID)]


class WireModel(BaseModel):
    """Base of every catalogue model: frozen, strict, no unknown fields, finite numbers.

    Every field whose type allows ``None`` defaults to ``None``; encoding leaves ``None`` fields
    out, so on the wire "absent" and ``null`` mean the same thing.
    """

    model_config = ConfigDict(
        extra="forbid",
        strict=True,
        frozen=True,
        allow_inf_nan=False,
        hide_input_in_errors=True,
        defer_build=True,
    )


class Empty(WireModel):
    """No fields: ``{}``."""


# --------------------------------------------------------------------------------------------
# Records several groups share.
# --------------------------------------------------------------------------------------------


class LockInfo(WireModel):
    """A lock on one path. ``change_id`` is set when a pending change holds it."""

    path: FilePath
    holder: DisplayName
    expires_at: Timestamp
    change_id: Ident | None = None


class NameArgs(WireModel):
    name: DisplayName


class NameResult(WireModel):
    name: DisplayName


class ReasonData(WireModel):
    """``denied`` and ``kicked``."""

    reason: ShortText | None = None


# --------------------------------------------------------------------------------------------
# The catalogue's entries: each group module lists its own in OPS and EVENTS.
# --------------------------------------------------------------------------------------------


@dataclasses.dataclass(frozen=True)
class OpSpec:
    """One op: its models, who may call it, and what it can fail with.

    Attributes:
        name: the wire name.
        args: the model ``args`` is validated against.
        result: the model of a successful ``result``.
        roles: the roles allowed to call it (the hub enforces; the channel never does).
        mutates: it changes the project, the hub's state or the session, rather than only
            reading; the hub commits such a change before it replies and audits it.
        errors: the codes specific to this op, beyond
            :data:`~letswork.shared.protocol.catalogue.COMMON_ERRORS`.
        summary: one line for the protocol document and tool descriptions.
        group: the section of the protocol document it belongs to.
    """

    name: str
    args: type[BaseModel]
    result: type[BaseModel]
    roles: frozenset[str]
    mutates: bool
    errors: tuple[ErrorCode, ...]
    summary: str
    group: str


@dataclasses.dataclass(frozen=True)
class EventSpec:
    """One event: its data model and what it announces."""

    name: str
    data: type[BaseModel]
    summary: str


def op(
    name: str,
    args: type[BaseModel],
    result: type[BaseModel],
    roles: frozenset[str],
    summary: str,
    *,
    group: str,
    mutates: bool = False,
    errors: tuple[ErrorCode, ...] = (),
) -> OpSpec:
    """An :class:`OpSpec`, with ``mutates`` and ``errors`` optional, in the order a catalogue
    line reads best."""
    return OpSpec(name, args, result, roles, mutates, errors, summary, group)
