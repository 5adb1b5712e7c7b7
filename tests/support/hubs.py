"""Test support: run a real hub on loopback port 0 and connect real protocol clients to it."""

from __future__ import annotations

import asyncio
import contextlib
import shutil
from collections.abc import AsyncIterator, Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from letswork.client.connection import HubConnection
from letswork.hub.app import HubConfig, RunningHub
from letswork.local import statedir
from letswork.shared import invite
from letswork.shared.limits import Limits
from letswork.shared.protocol.catalogue import EVENTS, OPS
from letswork.shared.protocol.wire import Event


def check_reply(op: str, result: Mapping[str, Any]) -> None:
    """Fail (pydantic ``ValidationError``) unless ``result`` fits ``op``'s result model."""
    OPS[op].result.model_validate(dict(result))


def check_event(name: str, data: Mapping[str, Any]) -> None:
    """Fail unless ``name`` is a catalogue event and ``data`` fits its model."""
    assert name in EVENTS, f"the hub sent an event the catalogue does not know: {name!r}"
    EVENTS[name].data.model_validate(dict(data))


def make_project(root: Path) -> Path:
    """A small project tree with shared files, secrets and ignored files."""
    root.mkdir(parents=True, exist_ok=True)
    (root / "src").mkdir(exist_ok=True)
    (root / "src" / "app.py").write_text("def main():\n    return 1\n", encoding="utf-8")
    (root / "README.md").write_text("# demo\n\nhello world\n", encoding="utf-8")
    (root / "notes.txt").write_text("alpha\nbeta\ngamma\n", encoding="utf-8")
    (root / ".env").write_text("API_KEY=supersecret\n", encoding="utf-8")
    (root / ".gitignore").write_text("build/\n*.log\n", encoding="utf-8")
    (root / "debug.log").write_text("ignored\n", encoding="utf-8")
    return root


def copy_tree(src: Path, dst: Path) -> Path:
    """A temporary copy of a real source tree (no caches)."""
    shutil.copytree(src, dst, ignore=shutil.ignore_patterns("__pycache__", "*.pyc"))
    return dst


@dataclass
class Client:
    """A connected protocol client that records the events it receives."""

    conn: HubConnection
    events: list[Event] = field(default_factory=list)
    _waiters: list[tuple[Callable[[Event], bool], asyncio.Future[Event]]] = field(
        default_factory=list
    )

    async def call(self, op: str, **args: Any) -> dict[str, Any]:
        """The reply to ``op``, checked against the op's result model (:func:`check_reply`)."""
        result = await self.conn.request(op, args)
        check_reply(op, result)
        return result

    def on_event(self, event: Event) -> None:
        self.events.append(event)
        for pred, fut in list(self._waiters):
            if not fut.done() and pred(event):
                fut.set_result(event)

    async def wait_event(
        self, name: str, pred: Callable[[dict[str, Any]], bool] | None = None, timeout: float = 10
    ) -> Event:
        def match(e: Event) -> bool:
            return e.name == name and (pred is None or pred(e.data))

        for e in self.events:
            if match(e):
                return e
        fut: asyncio.Future[Event] = asyncio.get_running_loop().create_future()
        self._waiters.append((match, fut))
        return await asyncio.wait_for(fut, timeout)


@dataclass
class HubFixture:
    hub: RunningHub
    project: Path
    clients: list[Client] = field(default_factory=list)
    #: Events the hub emitted that do not fit the catalogue, as (event, what was wrong); the
    #: fixture fails the test at its end when there is any.
    bad_events: list[tuple[str, str]] = field(default_factory=list)

    def check_events(self) -> None:
        """Check every event the hub's core emits (:func:`check_event`), at the source."""
        core = self.hub.core
        assert core is not None
        emit = core._emit

        def checked(peer: Any, name: str, data: Mapping[str, Any], seq: int) -> None:
            try:
                check_event(name, data)
            except (AssertionError, ValueError) as exc:  # ValidationError is a ValueError
                self.bad_events.append((name, str(exc)))
            emit(peer, name, data, seq)

        core._emit = checked

    @property
    def url(self) -> str:
        return self.hub.local_url

    @property
    def invite_secret(self) -> bytes:
        assert self.hub.first_invite is not None
        return invite.parse(self.hub.first_invite).secret

    @property
    def host_secret(self) -> bytes:
        return statedir.read_secret_file(self.hub.state.host_key_path)

    async def connect(self, secret: bytes, name: str = "guest", **kw: Any) -> Client:
        client = Client(conn=HubConnection(self.url, secret, name=name, **kw))
        client.conn._on_event = client.on_event
        await client.conn.connect()
        self.clients.append(client)
        return client

    async def host(self) -> Client:
        return await self.connect(self.host_secret, "host")

    async def invite(self, role: str = "editor", label: str | None = None) -> bytes:
        host = await self.host()
        result = await host.call("create_invite", role=role, label=label)
        await host.conn.close()
        return invite.parse(result["code"]).secret

    async def guest(self, name: str, role: str = "editor") -> Client:
        return await self.connect(await self.invite(role, name), name)

    async def close_clients(self) -> None:
        for c in self.clients:
            with contextlib.suppress(Exception):
                await c.conn.close()
        self.clients.clear()


@contextlib.asynccontextmanager
async def running_hub(project: Path, **config: Any) -> AsyncIterator[HubFixture]:
    config.setdefault("auto_admit", True)
    config.setdefault("watch", False)
    config.setdefault("limits", Limits())
    hub = RunningHub(HubConfig(project=project, **config))
    await hub.start()
    fx = HubFixture(hub=hub, project=project)
    fx.check_events()
    try:
        yield fx
    finally:
        await fx.close_clients()
        await hub.stop()
    assert not fx.bad_events, f"the hub emitted events off the catalogue: {fx.bad_events}"
