"""scripts/serve.py (what `make run` starts): mailed links follow PORT, and rate limits counted
in memory are counted by one web process."""
from __future__ import annotations

import importlib.util
from pathlib import Path

import pytest

SERVE = Path(__file__).resolve().parents[2] / "scripts" / "serve.py"


@pytest.fixture
def serve():
    spec = importlib.util.spec_from_file_location("serve_under_test", SERVE)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def flag(cmd: list[str], name: str) -> str:
    return cmd[cmd.index(name) + 1]


@pytest.mark.parametrize("uri", [None, "memory://", '"memory://"'])
def test_memory_rate_limits_run_one_web_process(serve, uri):
    """Each gunicorn worker has its own memory store: two let 10 of 14 forgot-password posts
    through a 5-per-15-minutes limit. One process (with threads) counts them all."""
    environ = {} if uri is None else {"PORTAL_RATELIMIT_STORAGE_URI": uri}
    web = serve.commands("8080", environ)["web"]
    assert flag(web, "--workers") == "1" and int(flag(web, "--threads")) >= 4
    assert flag(web, "--bind") == "127.0.0.1:8080"


def test_a_shared_rate_limit_store_allows_several_web_processes(serve):
    web = serve.commands("5000", {"PORTAL_RATELIMIT_STORAGE_URI": "redis://localhost:6379/1"})["web"]
    assert flag(web, "--workers") == "2"


class Recorder:
    seen: dict = {}

    def __init__(self, cmds):
        Recorder.seen = {"cmds": cmds}

    def run(self):
        import os

        Recorder.seen["base_url"] = os.environ.get("PORTAL_BASE_URL")
        return 0


def test_links_in_mail_follow_the_port(serve, monkeypatch):
    """PORT=8080 make run: mail (from the web server and from the worker, both inheriting the
    environment) links to :8080, not to the :5000 default."""
    monkeypatch.setenv("PORT", "8080")
    monkeypatch.setenv("PORTAL_BASE_URL", "")  # so that monkeypatch restores what main() sets
    monkeypatch.delenv("PORTAL_BASE_URL")
    monkeypatch.setattr(serve, "Supervisor", Recorder)
    assert serve.main() == 0
    assert Recorder.seen["base_url"] == "http://127.0.0.1:8080"
    assert flag(Recorder.seen["cmds"]["web"], "--bind") == "127.0.0.1:8080"


def test_a_base_url_that_is_set_wins(serve, monkeypatch):
    """Behind a proxy the public address is not 127.0.0.1:PORT."""
    monkeypatch.setenv("PORT", "8080")
    monkeypatch.setenv("PORTAL_BASE_URL", "https://portal.example.com")
    monkeypatch.setattr(serve, "Supervisor", Recorder)
    serve.main()
    assert Recorder.seen["base_url"] == "https://portal.example.com"


def test_the_default_port_gives_the_default_links(serve, monkeypatch):
    monkeypatch.delenv("PORT", raising=False)
    monkeypatch.setenv("PORTAL_BASE_URL", "")  # so that monkeypatch restores what main() sets
    monkeypatch.delenv("PORTAL_BASE_URL")
    monkeypatch.setattr(serve, "Supervisor", Recorder)
    serve.main()
    assert Recorder.seen["base_url"] == "http://127.0.0.1:5000"

