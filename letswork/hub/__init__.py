"""The host side: WebSocket hub, workspace, store, tunnel."""
