"""The hub's SQLite store: invites, guests, changes, the audit log and settings of one project.

Persistence rules (design section 8; ``docs/parts/store.md`` has the full text):

- One connection, opened once, in WAL mode with ``synchronous=FULL`` and foreign keys on. Every
  mutating method commits before it returns, so a request that changes state is on disk before
  the hub acknowledges it. :meth:`Store.transaction` groups several mutations into one commit.
- The schema is versioned: ``letswork/hub/store/schema/NNN-name.sql`` files, applied in order,
  each in its own transaction together with ``PRAGMA user_version = NNN``.
- Secret columns (invite secrets, resume PSKs) are sealed with AES-256-GCM under the 32-byte
  ``store.key``; the resume secret itself is never stored, only the PSK derived from it.
- The clock is passed in (``now`` arguments); nothing here reads the time.
- ``sqlite3`` errors never escape: every public method converts them to
  :class:`~letswork.shared.errors.StoreError`.
- What peers can make it keep is bounded (schema 4, issue 13 item 8): messages, the audit log
  and decided changes are rings per owner and in total under :attr:`Store.limits`, pruned
  oldest first in the transaction of the write that crossed a cap, against running totals
  (the ``usage`` table) that triggers keep.

One module per job: :mod:`~letswork.hub.store.base` (the connection, transactions, sealing, the
``meta`` table), :mod:`~letswork.hub.store.migrations` (the schema files),
:mod:`~letswork.hub.store.bounds` (the rings of schema 4), and one module per group of tables,
each with its row types: ``guests`` (invites and guests), ``changes`` (changes and guests'
versions of ignore files), ``audit``, ``messages`` (messages and receipts), ``tasks`` and
``variables``. :class:`Store` is all of them over one connection.
"""

from __future__ import annotations

from letswork.hub.store.audit import AuditTables
from letswork.hub.store.changes import ChangeTables
from letswork.hub.store.guests import GuestTables
from letswork.hub.store.merges import MergeTables
from letswork.hub.store.messages import MessageTables
from letswork.hub.store.tasks import TaskTables
from letswork.hub.store.variables import VariableTables

__all__ = ["Store"]


class Store(
    GuestTables,
    ChangeTables,
    MergeTables,
    AuditTables,
    MessageTables,
    TaskTables,
    VariableTables,
):
    """The state of one project, in one SQLite database. Create with :meth:`open`."""
