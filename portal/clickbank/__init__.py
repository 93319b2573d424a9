"""ClickBank integration: REST client, Instant Notifications, sync, emulator."""
