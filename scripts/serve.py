#!/usr/bin/env python3
"""Run the web server and the Huey worker together in the foreground; Ctrl-C stops both.

    .venv/bin/python scripts/serve.py          # PORT=5000 by default; GUNICORN_CMD_ARGS adds flags

If either process exits, the other one is stopped and this script exits non-zero, so a crashed
worker can never go unnoticed behind a running web server.

Links in mail point at PORTAL_BASE_URL, which defaults here to http://127.0.0.1:$PORT (so
``PORT=8080`` mails :8080 links). With the default memory:// rate-limit store (counts per
process) gunicorn runs ONE worker process with more threads, so every limit counts all requests;
with a shared store (PORTAL_RATELIMIT_STORAGE_URI=redis://…) it runs two.
"""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
GRACE_SECONDS = 15  # polite stop first; after that (or a second Ctrl-C) the children are forced
POLL_SECONDS = 0.2

# Gunicorn stops gracefully on SIGTERM and at once on SIGINT; Huey the other way round.
POLITE = {"web": signal.SIGTERM, "worker": signal.SIGINT}
FORCEFUL = {"web": signal.SIGINT, "worker": signal.SIGTERM}


def program(name: str) -> str:
    """An executable from the virtualenv running this script, else from PATH."""
    local = Path(sys.executable).parent / name
    if local.exists():
        return str(local)
    found = shutil.which(name)
    if found is None:
        sys.exit(f"serve: {name} not found; run `make deps` first")
    return found


def memory_rate_limits(environ) -> bool:
    """True when Flask-Limiter keeps its counters in each process's memory (the default)."""
    uri = str(environ.get("PORTAL_RATELIMIT_STORAGE_URI") or "memory://")
    return uri.strip().strip("\"'").startswith("memory://")


def web_processes(environ) -> tuple[int, int]:
    """(gunicorn worker processes, threads each). Per-process counters need a single process:
    two workers let 10 of 14 forgot-password posts through a 5-per-15-minutes limit. Flags given
    here beat GUNICORN_CMD_ARGS, so that cannot undo it."""
    return (1, 8) if memory_rate_limits(environ) else (2, 4)


def base_url(port: str, environ) -> str:
    """Where links in mail point: PORTAL_BASE_URL if set, else this server's own address."""
    return environ.get("PORTAL_BASE_URL") or f"http://127.0.0.1:{port}"


def commands(port: str, environ=None) -> dict[str, list[str]]:
    """The two processes to run."""
    workers, threads = web_processes(os.environ if environ is None else environ)
    return {
        "web": [
            program("gunicorn"),
            "wsgi:app",
            *f"--bind 127.0.0.1:{port} --workers {workers} --threads {threads}".split(),
            # Access log without secrets: link tokens in paths and query strings are masked.
            *"--graceful-timeout 10 --access-logfile -".split(),
            "--logger-class", "portal.web.logs.GunicornLogger",
        ],
        "worker": [program("huey_consumer"), "portal.worker.huey", "-w", "2", "-k", "thread"],
    }


def _die_with_parent() -> None:
    """In the child: get SIGTERM if this script is killed outright, so no orphan holds the port."""
    try:
        import ctypes

        ctypes.CDLL(None, use_errno=True).prctl(1, signal.SIGTERM)  # 1 = PR_SET_PDEATHSIG
    except (OSError, AttributeError):
        pass  # not Linux: a SIGKILL of this script may then leave the children running


class Supervisor:
    """Starts the children, forwards stop signals once, and reaps them."""

    def __init__(self, cmds: dict[str, list[str]]) -> None:
        self.cmds = cmds
        self.children: dict[str, subprocess.Popen] = {}
        self.signals = 0

    def on_signal(self, signum, frame) -> None:
        self.signals += 1

    def run(self) -> int:
        for signum in (signal.SIGINT, signal.SIGTERM, signal.SIGHUP):
            signal.signal(signum, self.on_signal)
        for name, cmd in self.cmds.items():
            # A session of their own: Ctrl-C reaches only this script, which then stops each
            # child with the signal that child treats as "finish and exit".
            self.children[name] = subprocess.Popen(
                cmd,
                cwd=ROOT,
                stdin=subprocess.DEVNULL,
                start_new_session=True,
                preexec_fn=_die_with_parent if sys.platform == "linux" else None,
            )
        while True:
            if self.signals:
                print("serve: stopping web server and worker…", file=sys.stderr, flush=True)
                self.stop()
                return 0
            for name, child in self.children.items():
                code = child.poll()
                if code is not None:
                    others = ", ".join(n for n in self.children if n != name)
                    print(
                        f"serve: {name} exited with code {code}; stopping {others}",
                        file=sys.stderr,
                        flush=True,
                    )
                    self.stop()
                    return code if code > 0 else 1
            time.sleep(POLL_SECONDS)

    def stop(self) -> None:
        """Polite signal, wait up to GRACE_SECONDS (or a further Ctrl-C), then force and kill."""
        already = self.signals
        self._send(POLITE)
        deadline = time.monotonic() + GRACE_SECONDS
        while self._running() and time.monotonic() < deadline and self.signals == already:
            time.sleep(POLL_SECONDS)
        if self._running():
            self._send(FORCEFUL)
            deadline = time.monotonic() + 5
            while self._running() and time.monotonic() < deadline:
                time.sleep(POLL_SECONDS)
        for child in self.children.values():
            if child.poll() is None:
                child.kill()
                child.wait()

    def _running(self) -> bool:
        return any(child.poll() is None for child in self.children.values())

    def _send(self, signals: dict[str, signal.Signals]) -> None:
        for name, child in self.children.items():
            if child.poll() is None:
                child.send_signal(signals[name])


def main() -> int:
    port = os.environ.get("PORT") or "5000"
    # Both children inherit it: the web server's and the worker's mail carry links to this port.
    os.environ["PORTAL_BASE_URL"] = base_url(port, os.environ)
    workers, threads = web_processes(os.environ)
    print(
        f"serve: portal on http://127.0.0.1:{port}/ with its Huey worker; Ctrl-C stops both\n"
        f"serve: links in mail use {os.environ['PORTAL_BASE_URL']}; {workers} web process"
        f"{'es' if workers > 1 else ''} × {threads} threads"
        + (" (rate limits are counted in memory: one process; set PORTAL_RATELIMIT_STORAGE_URI="
           "redis://… for more)" if memory_rate_limits(os.environ) else ""),
        file=sys.stderr,
        flush=True,
    )
    return Supervisor(commands(port)).run()


if __name__ == "__main__":
    sys.exit(main())
