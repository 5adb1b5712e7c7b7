"""The host's terminal dashboard (:mod:`letswork.ui.dashboard`) and Claude Code set-up
(:mod:`letswork.ui.claude`)."""
