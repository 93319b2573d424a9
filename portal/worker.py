"""The Huey consumer's entry point: ``huey_consumer portal.worker.huey``.

Importing this module builds the app, so every task runs with the same settings as the web
server (PORTAL_* environment variables).
"""
from portal import create_app
from portal.tasks import huey  # noqa: F401  (the consumer imports this name)

app = create_app()
