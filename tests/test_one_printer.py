"""The rule of issue 13, item 10, held by a scan of the source: one function prints peer- or
hub-supplied text to a terminal (``letswork.ui.printer.echo``), it cleans, and everything uses
it. The scan fails when a new way to the terminal appears anywhere else in ``letswork/``:

- ``print``, ``click.echo``/``secho``/``echo_via_pager``, a write to ``sys.stdout``/``stderr``
  (or their buffers), ``os.write`` to descriptor 1 or 2;
- a log handler or formatter that does not clean (``logging.StreamHandler``, ``FileHandler``,
  ``Formatter``, ``basicConfig``), or a change to ``logging.lastResort``/``sys.excepthook``;
- Rich markup: ``Text.from_markup``, ``Text.from_ansi``, ``markup=True``, ``rich.print``, a
  ``Console``; a Textual ``notify`` without ``markup=False``; a ``DataTable`` cell given a bare
  string or the result of anything but ``Text``/``peer_text``, a ``Static`` or an ``update``
  given a bare string (Textual reads those as markup).

The printer module itself is exempt, and so is the channel's stdio transport: its stdout is
the MCP client's pipe, not a terminal, and what it carries is cleaned where the results are
written (tests/channel/test_channel_hidden_text.py holds that side).
"""

from __future__ import annotations

import ast
import logging
import sys
from pathlib import Path

import pytest

from letswork.shared.sanitize import MARKER
from letswork.ui import printer

PACKAGE = Path(__file__).resolve().parents[1] / "letswork"
EXEMPT = {
    "ui/printer.py": "the one printer",
    "channel/stdio.py": "MCP frames on the client's pipe, cleaned where they are rendered",
}
#: Calls that write to the terminal, by dotted name.
WRITERS = {
    "print",
    "click.echo",
    "click.secho",
    "click.echo_via_pager",
    "rich.print",
    "logging.StreamHandler",
    "logging.FileHandler",
    "logging.Formatter",
    "logging.basicConfig",
    "Text.from_markup",
    "Text.from_ansi",
    "Console",
    "rich.console.Console",
}
STD_STREAMS = {"sys.stdout", "sys.stderr", "sys.__stdout__", "sys.__stderr__"}
#: Textual calls whose bare string arguments are read as markup.
MARKUP_WIDGETS = {"Static", "Label"}
#: Cells a DataTable may be given: Rich Text built by these.
CELL_BUILDERS = {"Text", "peer_text"}


def _dotted(node: ast.AST) -> str:
    if isinstance(node, ast.Name):
        return node.id
    if isinstance(node, ast.Attribute):
        return f"{_dotted(node.value)}.{node.attr}"
    if isinstance(node, ast.Call):
        return _dotted(node.func) + "()"
    return "?"


def _is_bare_string(node: ast.AST) -> bool:
    if isinstance(node, ast.BinOp):
        # A concatenation is text unless it visibly joins bytes (a digest's ``update``).
        return not any(
            isinstance(part, ast.Constant) and isinstance(part.value, bytes)
            for part in ast.walk(node)
        )
    return (isinstance(node, ast.Constant) and isinstance(node.value, str)) or isinstance(
        node, ast.JoinedStr
    )


def violations(source: str, where: str = "<source>") -> list[str]:
    """Each way to the terminal that bypasses the printer, as ``where:line: what``."""
    found: list[str] = []

    def report(node: ast.AST, what: str) -> None:
        found.append(f"{where}:{getattr(node, 'lineno', 0)}: {what}")

    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Assign):
            for target in node.targets:
                if _dotted(target) in ("logging.lastResort", "sys.excepthook"):
                    report(node, f"assigns {_dotted(target)}")
            continue
        if not isinstance(node, ast.Call):
            continue
        name = _dotted(node.func)
        if name in WRITERS:
            report(node, f"calls {name}")
        stream = name.rsplit(".", 1)[0].removesuffix(".buffer")
        if name.endswith((".write", ".writelines")) and stream in STD_STREAMS:
            report(node, f"calls {name}")
        if name == "os.write" and node.args:
            fd = node.args[0]
            if (isinstance(fd, ast.Constant) and fd.value in (1, 2)) or "std" in _dotted(fd):
                report(node, "writes to a standard descriptor")
        keywords = {k.arg: k.value for k in node.keywords}
        markup = keywords.get("markup")
        if isinstance(markup, ast.Constant) and markup.value is True:
            report(node, f"{name} with markup=True")
        if name.endswith(".notify") and not (
            isinstance(markup, ast.Constant) and markup.value is False
        ):
            report(node, f"{name} without markup=False")
        if name.split(".")[-1] in MARKUP_WIDGETS and any(map(_is_bare_string, node.args)):
            report(node, f"{name} given a bare string (markup)")
        if name.endswith(".update") and node.args and _is_bare_string(node.args[0]):
            report(node, f"{name} given a bare string (markup)")
        if name.endswith(".add_row"):
            for arg in node.args:
                built = isinstance(arg, ast.Call) and _dotted(arg.func) in CELL_BUILDERS
                if _is_bare_string(arg) or (isinstance(arg, ast.Call) and not built):
                    report(node, f"{name} given a cell that is not a Text")
    return found


def _sources() -> list[tuple[str, str]]:
    return [
        (str(path.relative_to(PACKAGE)), path.read_text(encoding="utf-8"))
        for path in sorted(PACKAGE.rglob("*.py"))
    ]


def test_nothing_in_letswork_reaches_a_terminal_except_through_the_printer() -> None:
    found = [
        line
        for where, source in _sources()
        if where not in EXEMPT
        for line in violations(source, where)
    ]
    assert not found, "write through letswork.ui.printer instead:\n" + "\n".join(found)


def test_the_exempt_modules_exist() -> None:
    for where in EXEMPT:
        assert (PACKAGE / where).is_file(), where


@pytest.mark.parametrize(
    "line",
    [
        "print(name)",
        "click.echo(f'joined {project}')",
        "click.secho(reason, fg='red')",
        "sys.stderr.write(message)",
        "sys.stdout.buffer.write(data)",
        "os.write(2, data)",
        "os.write(sys.stdout.fileno(), data)",
        "handler = logging.StreamHandler(sys.stderr)",
        "logging.basicConfig(level=logging.INFO)",
        "logging.lastResort = handler",
        "sys.excepthook = hook",
        "Text.from_markup(title)",
        "Text.from_ansi(output)",
        "Console().print(title)",
        "app.notify(message)",
        "self.notify(message, markup=True)",
        "RichLog(markup=True)",
        "Static(f'{name} joined')",
        "view.update('[bold]' + name)",
        "table.add_row(f'{name}', Text(role))",
        "table.add_row(one_line(name), Text(role))",
    ],
)
def test_the_guard_finds_each_way_around_the_printer(line: str) -> None:
    assert violations(line), line


@pytest.mark.parametrize(
    "line",
    [
        "printer.echo(f'joined {project}')",
        "click.prompt('Invite code', err=True)",
        "self.notify(text, severity='error', markup=False)",
        "table.add_row(peer_text(name), Text(role), key=peer_id)",
        "table.add_row(what, Text(role))",  # a Text built on the lines before
        "view.update(Text(note, style='dim'))",
        "Static(id='status')",
        "os.write(fd, view)",
        "digest.update(last + b'\\n')",  # bytes joined for a hash, not text for a widget
    ],
)
def test_the_guard_lets_the_printer_and_plain_text_through(line: str) -> None:
    assert not violations(line), violations(line)


# ------------------------------------------------------------------ the printer's own cleaning


def test_a_log_record_is_cleaned_and_kept_on_one_line() -> None:
    """A peer's text in a log message cannot paint the terminal or forge a log line."""
    formatter = printer.CleanFormatter("%(levelname)s %(message)s")
    hostile = "bob\x1b]0;pwned\x07\nERROR the host approved everything\u200b"
    record = logging.LogRecord(
        "letswork.hub", logging.WARNING, __file__, 1, "peer %s", (hostile,), None
    )
    assert formatter.format(record) == (
        f"WARNING peer bob{MARKER}]0;pwned{MARKER} ERROR the host approved everything{MARKER}"
    )
    try:
        raise ValueError(f"bad {hostile}")
    except ValueError:
        failed = logging.LogRecord(
            "letswork", logging.ERROR, __file__, 1, "failed", (), sys.exc_info()
        )
    text = formatter.format(failed)
    assert text.startswith("ERROR failed\nTraceback")  # the traceback keeps its lines
    assert "\x1b" not in text and "\u200b" not in text and MARKER in text


def test_the_last_resort_handler_and_uncaught_exceptions_are_cleaned(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(logging, "lastResort", logging.lastResort)
    monkeypatch.setattr(sys, "excepthook", sys.excepthook)
    printer.install()
    # What Python does with a record when no handler is configured (pytest configures one).
    record = logging.LogRecord(
        "websockets.client",
        logging.WARNING,
        __file__,
        1,
        "reason: %s",
        ("\x1b]52;c;eA==\x07",),
        None,
    )
    assert logging.lastResort is not None
    logging.lastResort.handle(record)
    try:
        raise RuntimeError("hub said \x1b]0;pwned\x07")
    except RuntimeError as exc:
        sys.excepthook(type(exc), exc, exc.__traceback__)
    err = capsys.readouterr().err
    assert f"reason: {MARKER}]52;c;eA=={MARKER}" in err
    assert f"RuntimeError: hub said {MARKER}]0;pwned{MARKER}" in err
    assert "\x1b" not in err and "\x07" not in err


def test_echo_cleans_whatever_it_is_given(capsys: pytest.CaptureFixture[str]) -> None:
    printer.echo("joined demo\x1b]52;c;eA==\x07\U000e0061", err=True)
    printer.echo("ok")
    out = capsys.readouterr()
    assert out.err == f"joined demo{MARKER}]52;c;eA=={MARKER}\n"
    assert out.out == "ok\n"
