"""scripts/serve.py stops both children on Ctrl-C and when either of them dies."""

from __future__ import annotations

import json
import signal
import subprocess
import sys
import time
from pathlib import Path

SERVE = Path(__file__).resolve().parents[2] / "scripts" / "serve.py"

# A stand-in for gunicorn / huey: records the first stop signal it gets, then exits.
CHILD = """
import pathlib, signal, sys, time
out, lifetime, code, ignore = pathlib.Path(sys.argv[1]),\
    float(sys.argv[2]), int(sys.argv[3]), sys.argv[4]
def handle(signum, frame):
    name = signal.Signals(signum).name
    with out.open("a") as f:
        f.write(name + " ")
    if name != ignore:
        sys.exit(0)
signal.signal(signal.SIGINT, handle)
signal.signal(signal.SIGTERM, handle)
out.with_suffix(".ready").touch()
time.sleep(lifetime)
sys.exit(code)
"""

# Runs serve.Supervisor with the stand-ins instead of the real commands.
DRIVER = """
import importlib.util, json, sys
spec = importlib.util.spec_from_file_location("serve", sys.argv[1])
serve = importlib.util.module_from_spec(spec)
spec.loader.exec_module(serve)
sys.exit(serve.Supervisor(json.loads(sys.argv[2])).run())
"""


def start(tmp_path: Path, web=(60, 0, "-"), worker=(60, 0, "-")) -> subprocess.Popen:
    """Start the supervisor over two stand-ins: (lifetime seconds, exit code, signal to ignore)."""
    cmds = {
        name: [sys.executable, "-c", CHILD, str(tmp_path / name), *map(str, spec)]
        for name, spec in (("web", web), ("worker", worker))
    }
    proc = subprocess.Popen([sys.executable, "-c", DRIVER, str(SERVE), json.dumps(cmds)])
    deadline = time.monotonic() + 10
    while not all((tmp_path / f"{n}.ready").exists() for n in cmds):
        assert time.monotonic() < deadline, "children did not start"
        time.sleep(0.05)
    return proc


def received(tmp_path: Path, name: str) -> str:
    path = tmp_path / name
    return path.read_text().strip() if path.exists() else ""


def test_ctrl_c_stops_each_child_politely_and_exits_zero(tmp_path):
    """Web gets SIGTERM (gunicorn: graceful), worker gets SIGINT (huey: graceful)."""
    proc = start(tmp_path)
    proc.send_signal(signal.SIGINT)
    assert proc.wait(timeout=10) == 0
    assert received(tmp_path, "web") == "SIGTERM"
    assert received(tmp_path, "worker") == "SIGINT"


def test_a_dying_child_stops_the_other_and_fails(tmp_path):
    """The worker crashing with code 3 takes the web server down and the exit code with it."""
    proc = start(tmp_path, worker=(0.5, 3, "-"))
    assert proc.wait(timeout=10) == 3
    assert received(tmp_path, "web") == "SIGTERM"


def test_a_clean_exit_of_one_child_still_counts_as_failure(tmp_path):
    """A web server that exits 0 on its own is still unexpected: exit non-zero."""
    proc = start(tmp_path, web=(0.5, 0, "-"))
    assert proc.wait(timeout=10) == 1
    assert received(tmp_path, "worker") == "SIGINT"


def test_second_ctrl_c_forces_a_child_that_ignores_the_polite_signal(tmp_path):
    """A web server stuck in graceful shutdown is sent SIGINT after the second Ctrl-C."""
    proc = start(tmp_path, web=(60, 0, "SIGTERM"))
    proc.send_signal(signal.SIGINT)
    time.sleep(0.5)
    assert proc.poll() is None  # still waiting for the stuck web server
    proc.send_signal(signal.SIGINT)
    assert proc.wait(timeout=10) == 0
    assert received(tmp_path, "web") == "SIGTERM SIGINT"
