"""How the host hands out an invite, in words both the dashboard and the commands print.

- :func:`join_lines`: the ``letswork join CODE`` line cut to a width so that a copy of the rows,
  as a terminal copies them (one newline per row, trailing blanks kept or not), still joins:
  pasted into bash, zsh, fish or PowerShell it runs as one command, because the code is quoted
  and a quoted newline does not end the command; ``letswork join`` drops the whitespace a
  copy put inside the code (:func:`letswork.cli.join.read_code`). A code never contains
  whitespace, so dropping it cannot turn one code into another.
- :func:`local_mode_help`: what local mode (no cloudflared) means and the three ways out:
  install cloudflared, share over a LAN, share over SSH, as the README promises.
"""

from __future__ import annotations

__all__ = ["JOIN_COMMAND", "join_lines", "local_mode_help"]

#: The command a guest runs, before the code.
JOIN_COMMAND = "letswork join"
#: Narrower than this, a row cannot hold ``letswork join "`` and the line is left whole.
_MIN_WIDTH = len(JOIN_COMMAND) + 3


def join_lines(code: str, width: int) -> list[str]:
    """The join line for ``code`` as rows of at most ``width`` characters.

    One row ``letswork join CODE`` when it fits. Otherwise ``letswork join "`` and the code
    in quotes over several rows, cut after the ``@`` when that row fits, else at the width.
    Below ``len('letswork join "')`` columns the one line is returned unchanged.
    """
    line = f"{JOIN_COMMAND} {code}"
    if len(line) <= width or width < _MIN_WIDTH:
        return [line]
    quoted = f'{JOIN_COMMAND} "{code}"'
    at = quoted.find("@") + 1
    rows: list[str] = []
    rest = quoted
    if 0 < at <= width:
        rows.append(rest[:at])
        rest = rest[at:]
    while len(rest) > width:
        rows.append(rest[:width])
        rest = rest[width:]
    rows.append(rest)
    return rows


_LOCAL_MODE_HELP = """\
LOCAL MODE: cloudflared is not installed, so the hub is reachable from this machine only{where}.

To share over the internet, install cloudflared and run `letswork start` again:
  macOS:          brew install cloudflared
  Debian/Ubuntu:  add Cloudflare's apt repository (https://pkg.cloudflare.com/), then
                  sudo apt-get install cloudflared
  Windows (WSL):  install the Debian/Ubuntu package inside WSL

To share over a LAN:  letswork start --bind 0.0.0.0 --port {port} --public-url ws://LAN-IP:{port}
                      (LAN-IP: this machine's address on the LAN, so the invite names it)
To share over SSH:    the guest runs  ssh -N -L {port}:127.0.0.1:{port} you@this-host
                      and joins with the invite as printed (it points at 127.0.0.1:{port}).
Behind your own proxy, ngrok or Tailscale:  letswork start --public-url wss://..."""


def local_mode_help(url: str | None = None, port: int | None = None) -> str:
    """The local-mode explanation, with the hub's ``url`` and ``port`` when known (``PORT``
    stands in for an unknown port). Several lines, no trailing newline."""
    where = f" ({url})" if url else ""
    return _LOCAL_MODE_HELP.format(where=where, port=port if port is not None else "PORT")
