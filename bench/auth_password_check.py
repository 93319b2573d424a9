"""Cost of the auth checks that run on every login and every keystroke.

    .venv/bin/python bench/auth_password_check.py            # prints a Markdown table

Measures: one argon2id verification (the login / PIN / answer check), the password policy
(`passwords.check`: rules + blocklist + zxcvbn) for random rule-compliant passwords of several
lengths and for typical human ones, and the live checklist endpoint end to end through Flask
(`POST /auth/password-check`, in-process test client, SQLite).
"""
from __future__ import annotations

import os
import platform
import random
import statistics
import string
import sys
import tempfile
import time
from datetime import date

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
os.environ.setdefault("PORTAL_ENV", "testing")

from portal.auth import hashing, passwords  # noqa: E402

PRINTABLE = string.ascii_letters + string.digits + string.punctuation + " "


def compliant(rnd: random.Random, length: int) -> str:
    chars = [rnd.choice(string.ascii_uppercase) for _ in range(2)]
    chars += [rnd.choice(string.ascii_lowercase) for _ in range(2)]
    chars += [rnd.choice(string.digits) for _ in range(2)]
    chars += [rnd.choice(string.punctuation) for _ in range(2)]
    chars += [rnd.choice(PRINTABLE) for _ in range(length - 8)]
    rnd.shuffle(chars)
    return "".join(chars)


def timed(fn, runs: int) -> list[float]:
    out = []
    for _ in range(runs):
        started = time.perf_counter()
        fn()
        out.append((time.perf_counter() - started) * 1000)
    return out


def row(label: str, ms: list[float]) -> str:
    ms = sorted(ms)
    p95 = ms[max(0, int(len(ms) * 0.95) - 1)]
    return f"| {label} | {len(ms)} | {statistics.median(ms):.1f} | {p95:.1f} | {ms[-1]:.1f} |"


def main() -> None:
    rnd = random.Random(2026)
    lines = [
        f"Machine: {platform.platform()}, {os.cpu_count()} cores (nproc), Python {platform.python_version()}; "
        f"date {date.today().isoformat()}. Shared with other jobs, so the maxima are noisy.",
        "",
        "| What | runs | p50 ms | p95 ms | max ms |",
        "|---|---|---|---|---|",
    ]
    stored = hashing.hash_secret("Harbor 42 Tulip!!")
    lines.append(row("argon2id verify (t=2, m=19 MiB, p=1)", timed(lambda: hashing.verify_secret(stored, "x"), 40)))
    for length in (12, 16, 24, 32, 48, 64, 96, 128):
        pws = [compliant(rnd, length) for _ in range(30)]
        it = iter(pws)
        lines.append(row(f"passwords.check, random compliant, {length} chars",
                         timed(lambda: passwords.check(next(it), email="a@b.test", names=["Ann", "Lee"]), 30)))
    from zxcvbn import zxcvbn

    for length, runs in ((48, 20), (64, 20), (128, 5)):
        pws = iter([compliant(rnd, length) for _ in range(runs)])
        lines.append(row(f"for comparison: zxcvbn on the whole string, {length} chars",
                         timed(lambda: zxcvbn(next(pws), max_length=200), runs)))
    human = ["Harbor 42 Tulip!!", "PAssword12!!", "Correct Horse 12 Battery!", "Tr1cky!!Pass#99",
             "My dog Rex ate 2 socks!!", "Sunshine!!1987Ab"]
    lines.append(row("passwords.check, human-style passwords", timed(
        lambda: passwords.check(rnd.choice(human), email="a@b.test", names=["Ann", "Lee"]), 60)))
    lines.append(row("is_common (blocklist incl. affixes and l33t)", timed(
        lambda: passwords.is_common(compliant(rnd, 16)), 200)))

    from portal import create_app
    from portal.extensions import db

    with tempfile.TemporaryDirectory() as tmp:
        app = create_app({"ENV": "testing", "SECRET_KEY": "bench", "WTF_CSRF_ENABLED": False,
                          "RATELIMIT_ENABLED": False, "SQLALCHEMY_DATABASE_URI": f"sqlite:///{tmp}/b.db"})
        with app.app_context():
            db.create_all()
            client = app.test_client()
            typed = "Harbor 42 Tulip!!"

            def keystroke():
                n = rnd.randint(1, len(typed))
                client.post("/auth/password-check", data={"new_password": typed[:n], "confirm_password": ""},
                            headers={"HX-Request": "true"})

            lines.append(row("POST /auth/password-check (one keystroke, via Flask)", timed(keystroke, 100)))
            db.session.remove()
            db.engine.dispose()
    print("\n".join(lines))


if __name__ == "__main__":
    main()
