"""The protocol client every local tool uses: the channel, the dashboard, the admin CLI and
``letswork join`` talk to a hub through :class:`letswork.client.connection.HubConnection`."""
