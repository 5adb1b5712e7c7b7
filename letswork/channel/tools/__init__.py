"""The channel's MCP tools, one module per op group (docs/architecture.md, "The cut").

- :mod:`~letswork.channel.tools.base`: :class:`ToolSpec` (name, roles, input schema and
  read-only come from the catalogue; the description and the renderer are written by hand),
  :class:`ToolContext`, :func:`tool_definition`;
- ``session``, ``files``, ``changes`` (with the approvals), ``locks``, ``messages``, ``tasks``,
  ``variables``, ``presence``: each the tools of the ops of the same module in
  ``letswork/shared/protocol/`` (the ``admin`` ops have no tool: the host uses the dashboard
  and ``letswork admin``);
- :mod:`~letswork.channel.tools.local`: the tools the channel answers itself;
- :mod:`~letswork.channel.tools.catalogue`: :data:`TOOLS` assembled, :func:`tools_for_role`;
- :mod:`~letswork.channel.tools.errors`: :func:`format_error`, hub refusals as tool results;
- :mod:`~letswork.channel.tools.toolsets`: the named sets a channel lists (``--toolsets``);
- :mod:`~letswork.channel.tools.hints`: other file servers' argument names answered with ours.

Results are plain text. Every string that came from another person or from the hub goes
through :mod:`letswork.shared.sanitize`, mostly by way of :mod:`letswork.shared.describe`
(docs/security.md, "Invisible text"). The package exports nothing: an import names the module.
"""
