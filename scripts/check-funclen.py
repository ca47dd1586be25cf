#!/usr/bin/env python3
"""Fails when a product function (bpf/, agent/, userspace/) is longer than
LIMIT lines (default 100), counted from its signature to its closing brace.
Relies on the project's clang-format style: a function body opens with "{"
alone on a line and closes with "}" in column 0. Run by `make check`."""
import os
import re
import subprocess
import sys

ROOT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..")
LIMIT = int(sys.argv[1]) if len(sys.argv) > 1 else 100


def functions(path):
    lines = open(os.path.join(ROOT, path), encoding="utf-8").read().split("\n")
    start = None
    for i, line in enumerate(lines):
        if start is None and line == "{":
            # The signature starts at the last line in column 0 that is not "{".
            j = i - 1
            while j > 0 and (lines[j].startswith(("\t", " ")) or lines[j] == ""):
                j -= 1
            if j >= 0 and re.match(r"^[A-Za-z_].*\(", lines[j]):
                start = j
        elif start is not None and line == "}":
            yield i - start + 1, lines[start].strip()
            start = None


def main():
    files = subprocess.check_output(
        ["git", "ls-files", "bpf", "agent", "userspace"], cwd=ROOT, text=True).split()
    long = [(n, f, sig) for f in files if f.endswith(".c") for n, sig in functions(f) if n > LIMIT]
    for n, f, sig in sorted(long, reverse=True):
        print(f"check-funclen: {f}: {n} lines (limit {LIMIT}): {sig[:70]}", file=sys.stderr)
    return 1 if long else 0


if __name__ == "__main__":
    sys.exit(main())
