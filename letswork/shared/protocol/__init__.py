"""The message catalogue: every application message that travels inside the record layer.

One module per op group, named as the catalogue's groups, each holding its ops' argument and
result models, its events' data models, and its entries (``OPS``, ``EVENTS``):

- :mod:`.session` (hello, ping, status, display names; peers coming, going and admitted),
- :mod:`.files` (list, read, search, find), :mod:`.changes` (write, edit, delete, move, and
  the approval queue), :mod:`.locks`,
- :mod:`.messages`, :mod:`.tasks`, :mod:`.variables`, :mod:`.presence` (peers, cards, the
  activity log, leaving), :mod:`.admin` (host only: admission, trust, invites, shutdown);

and three modules around them:

- :mod:`.base`: :class:`~.base.WireModel`, the field types and their validators, the records
  several groups share, and the entry types ``OpSpec`` and ``EventSpec``;
- :mod:`.catalogue`: ``OPS`` and ``EVENTS``, every op and event by name, assembled from the
  group modules;
- :mod:`.wire`: the envelope (``Request``, ``Response``, ``Event``) and its codec
  (``decode_request``, ``encode_response_ok``, ``parse_result``, ...).

Every model is a frozen pydantic model that validates itself strictly (no coercion, no unknown
fields, bounded strings), so a value that exists is a valid one. Text another person wrote
travels as it is; the channel and the dashboard neutralise it at the exits
(:mod:`letswork.shared.sanitize`). Here only sizes and characters are checked.

Imports run one way: the group modules import only ``base``, ``catalogue`` imports the groups,
``wire`` imports ``catalogue``. This package exports nothing itself: an importer names the
module a name lives in (``from letswork.shared.protocol.files import ReadFileResult``,
``from letswork.shared.protocol.wire import decode_request``), so each import says where to
look, and importing one group does not pull in the whole catalogue.

Adding an op: its models and an ``op(...)`` line in its group's module, an example in
``tests/shared/protocol/examples.py`` and a section in ``docs/protocol.md``
(``docs/architecture.md``, "Adding an op").
"""
