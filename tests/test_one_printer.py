"""The rule of issue 13, item 10, held by a scan of the source: one function prints peer- or
hub-supplied text to a terminal (``letswork.ui.printer.echo``), it cleans, and everything uses
it. The scan fails when a new way to the terminal appears anywhere else in ``letswork/``:

- ``print``, ``click.echo``/``secho``/``echo_via_pager``, a write to ``sys.stdout``/``stderr``
  (or their buffers), ``os.write`` to descriptor 1 or 2;
- a log handler or formatter that does not clean (``logging.StreamHandler``, ``FileHandler``,
  ``Formatter``, ``basicConfig``, made or subclassed), or a change to
  ``logging.lastResort``/``sys.excepthook``;
- Rich markup: ``Text.from_markup``, ``Text.from_ansi``, ``markup=True``, ``rich.print``, a
  ``Console`` or a ``console.print``/``log``; a Textual ``notify`` without ``markup=False``; a
  ``DataTable`` cell (``add_row``, ``update_cell``) given a bare string or the result of
  anything but ``Text``/``peer_text``, a ``Static`` or an ``update`` given a bare string, a
  ``border_title``, ``border_subtitle``, ``tooltip`` or ``sub_title`` given anything but a
  literal or a ``Text`` (Textual reads those as markup);
- ``traceback.print_*``, ``pprint``, ``logging.handlers``/``logging.config``, click's own
  exceptions (click prints their message), ``sys.exit`` or ``SystemExit`` given a message
  (Python prints it), ``click.prompt``/``confirm`` with a prompt built from data, opening the
  terminal or descriptor 1 or 2, replacing a hook or a standard stream
  (``threading.excepthook``, ``sys.unraisablehook``, ``warnings.showwarning``, ...).

Names are judged with their imports resolved (``from click import echo as say``, ``import sys
as s``, ``out = sys.stdout``). What it cannot see: a writer reached through ``getattr`` or a
call's result, a Textual widget given a ``str`` variable (Textual reads it as markup; the
dashboard passes ``Text``), ``os.write`` to a descriptor held in a variable.

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
#: Calls that write to the terminal, by dotted name (as written, or with its imports resolved:
#: ``from click import echo as say`` makes ``say(...)`` a call of ``click.echo``).
WRITERS = {
    "print",
    "builtins.print",
    "click.echo",
    "click.secho",
    "click.echo_via_pager",
    "click.utils.echo",
    "click.termui.secho",
    "click.termui.echo_via_pager",
    "click.get_text_stream",
    "click.get_binary_stream",
    "rich.print",
    "rich.print_json",
    "rich.inspect",
    "rich.get_console",
    "rich.pretty.pprint",
    "logging.StreamHandler",
    "logging.FileHandler",
    "logging.Formatter",
    "logging.basicConfig",
    "Text.from_markup",
    "Text.from_ansi",
    "rich.text.Text.from_markup",
    "rich.text.Text.from_ansi",
    "Console",
    "rich.console.Console",
    "Content.from_markup",
    "textual.content.Content.from_markup",
    # click prints these exceptions' messages itself, uncleaned, when they end a command.
    "click.ClickException",
    "click.UsageError",
    "click.BadParameter",
    "click.BadOptionUsage",
    "click.BadArgumentUsage",
    "click.NoSuchOption",
    "click.MissingParameter",
    "click.FileError",
}
#: Calls whose dotted name starts so write to the terminal (or configure who does).
WRITER_PREFIXES = (
    "logging.handlers.",
    "logging.config.",
    "traceback.print_",
    "pprint.",
    "click.exceptions.",
)
STD_STREAMS = {"sys.stdout", "sys.stderr", "sys.__stdout__", "sys.__stderr__"}
#: Hooks and streams whose replacement would write to the terminal outside the printer.
HOOKS = {
    "logging.lastResort",
    "sys.excepthook",
    "sys.unraisablehook",
    "sys.displayhook",
    "sys.stdout",
    "sys.stderr",
    "threading.excepthook",
    "warnings.showwarning",
}
#: Textual calls whose bare string arguments are read as markup.
MARKUP_WIDGETS = {"Static", "Label"}
#: Textual attributes read as markup when given a str (a Text is shown as it is).
MARKUP_ATTRIBUTES = {"border_title", "border_subtitle", "tooltip", "sub_title"}
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


def _is_text(node: ast.AST | None) -> bool:
    """A string literal, None, or a Rich ``Text`` built on the spot."""
    if isinstance(node, ast.Constant) and (node.value is None or isinstance(node.value, str)):
        return True
    return isinstance(node, ast.Call) and _dotted(node.func) in CELL_BUILDERS


def _aliases(tree: ast.AST) -> dict[str, str]:
    """Local names for modules, functions and streams: ``import sys as s``, ``from click import
    echo``, ``out = sys.stdout``, so that ``s.stdout.write``, ``echo`` and ``out.write`` are
    judged as ``sys.stdout.write``, ``click.echo`` and ``sys.stdout.write``."""
    names: dict[str, str] = {}
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            for alias in node.names:
                if alias.asname:
                    names[alias.asname] = alias.name
        elif isinstance(node, ast.ImportFrom) and node.module and not node.level:
            for alias in node.names:
                names[alias.asname or alias.name] = f"{node.module}.{alias.name}"
    for node in ast.walk(tree):  # after the imports: `out = s.stdout` needs `s` resolved
        if (
            isinstance(node, ast.Assign)
            and len(node.targets) == 1
            and isinstance(node.targets[0], ast.Name)
            and isinstance(node.value, (ast.Name, ast.Attribute))
        ):
            value = _resolve(_dotted(node.value), names)
            if _writes(value) or value in STD_STREAMS:
                names[node.targets[0].id] = value
    return names


def _resolve(name: str, aliases: dict[str, str]) -> str:
    head, dot, rest = name.partition(".")
    return aliases[head] + dot + rest if head in aliases else name


def _writes(name: str) -> bool:
    return name in WRITERS or name.startswith(WRITER_PREFIXES)


def violations(source: str, where: str = "<source>") -> list[str]:
    """Each way to the terminal that bypasses the printer, as ``where:line: what``."""
    found: list[str] = []

    def report(node: ast.AST, what: str) -> None:
        found.append(f"{where}:{getattr(node, 'lineno', 0)}: {what}")

    tree = ast.parse(source)
    aliases = _aliases(tree)
    for node in ast.walk(tree):
        if isinstance(node, ast.ClassDef):
            for base in node.bases:
                inherited = _resolve(_dotted(base), aliases)
                if inherited.startswith("logging.") and _writes(inherited):
                    report(
                        node, f"subclasses {inherited} (a handler or formatter that does not clean)"
                    )
            continue
        if isinstance(node, (ast.Assign, ast.AnnAssign, ast.AugAssign)):
            targets = node.targets if isinstance(node, ast.Assign) else [node.target]
            for target in targets:
                assigned = _resolve(_dotted(target), aliases)
                if assigned in HOOKS:
                    report(node, f"assigns {assigned}")
                if (
                    isinstance(target, ast.Attribute)
                    and target.attr in MARKUP_ATTRIBUTES
                    and not _is_text(node.value)
                ):
                    report(node, f"assigns {target.attr} something other than a Text (markup)")
            continue
        if not isinstance(node, ast.Call):
            continue
        written = _dotted(node.func)
        name = _resolve(written, aliases)
        if _writes(written) or _writes(name):
            report(node, f"calls {name}")
        stream = name.rsplit(".", 1)[0].removesuffix(".raw").removesuffix(".buffer")
        if name.endswith((".write", ".writelines")) and stream in STD_STREAMS:
            report(node, f"calls {name}")
        parts = name.split(".")
        if len(parts) >= 2 and parts[-2] == "console" and parts[-1] in ("print", "log", "out"):
            report(node, f"calls {name} (Rich markup on the terminal)")
        if name in ("os.write", "os.fdopen") and node.args:
            fd = node.args[0]
            if (isinstance(fd, ast.Constant) and fd.value in (1, 2)) or "std" in _dotted(fd):
                report(node, f"{name} on a standard descriptor")
        if name in ("open", "io.open") and node.args:
            path = node.args[0]
            if isinstance(path, ast.Constant) and str(path.value).startswith("/dev/tty"):
                report(node, "opens the terminal")
        if name in ("sys.exit", "SystemExit", "exit", "quit") and node.args:
            code = node.args[0]
            if _is_bare_string(code) or isinstance(code, (ast.Name, ast.Attribute)):
                # Python prints a non-integer exit code to stderr itself, uncleaned.
                report(node, f"{name} given a message (printed raw); pass an int")
        prompt = node.args[0] if node.args else None
        if name in ("click.prompt", "click.confirm") and not isinstance(prompt, ast.Constant):
            report(node, f"{name} given a prompt that is not a literal")
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
        if name.endswith((".update_cell", ".update_cell_at")) and len(node.args) >= 2:
            value = node.args[-1] if name.endswith("_at") else node.args[2:3]
            for arg in value if isinstance(value, list) else [value]:
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
        # Found while attacking the guard (docs/security.md, items 9-10): names imported or
        # bound under another name, and writers it did not know.
        "from click import echo\necho(reason)",
        "from click import echo as say\nsay(reason)",
        "import click as c\nc.secho(reason)",
        "from sys import stderr\nstderr.write(reason)",
        "import sys as s\ns.stdout.write(reason)",
        "out = sys.stdout\nout.write(reason)",
        "p = print\np(reason)",
        "from rich import print as rprint\nrprint(title)",
        "from rich.console import Console as C\nC().print(title)",
        "from rich.text import Text as T\nT.from_markup(title)",
        "from logging import StreamHandler\nStreamHandler()",
        "from logging.handlers import WatchedFileHandler\nWatchedFileHandler(path)",
        "logging.handlers.RotatingFileHandler(path)",
        "logging.config.dictConfig(config)",
        "click.get_text_stream('stdout').write(reason)",
        "sys.stdout.buffer.raw.write(data)",
        "traceback.print_exc()",
        "traceback.print_exception(exc)",
        "pprint.pprint(result)",
        "self.app.console.print(name)",
        "console.log(name)",
        "os.fdopen(2, 'w')",
        "open('/dev/tty', 'w')",
        "sys.exit(message)",
        "sys.exit(f'letswork: {message}')",
        "raise SystemExit(message)",
        "raise click.ClickException(message)",
        "raise click.UsageError(message)",
        "click.confirm(f'approve {path}?')",
        "threading.excepthook = hook",
        "sys.unraisablehook = hook",
        "warnings.showwarning = show",
        "table.border_title = f'{name} (guest)'",
        "widget.tooltip = name",
        "table.update_cell(key, 'name', one_line(name))",
        "class Loud(logging.StreamHandler):\n    pass",
        "from logging import Formatter\nclass Plain(Formatter):\n    pass",
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
        "from letswork.shared.errors import UsageError\nraise UsageError(message)",
        "sys.exit(_fail(exc))",
        "sys.exit(1 if problems else 0)",
        "raise SystemExit(1)",
        "table.border_title = Text(f'Locks ({len(locks)})')",
        "table.border_title = 'People'",
        "table.update_cell(key, 'name', peer_text(name))",
        "class ToTheFeed(logging.Handler):\n    pass",
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
