#!/usr/bin/env python3
"""Checks that docs/design.md's code map matches the tree: every source folder
under bpf/, agent/ and userspace/ has a row, and every folder and file a row
names exists. Run by `make check`."""
import os
import re
import sys

ROOT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..")


def rows(text):
    start = text.index("## Code map")
    end = text.index("\n## ", start + 1)
    for line in text[start:end].splitlines():
        cells = [c.strip() for c in line.strip().strip("|").split("|")]
        if len(cells) == 3 and cells[0].startswith("`"):
            yield cells


def main():
    text = open(os.path.join(ROOT, "docs/design.md"), encoding="utf-8").read()
    errors, mapped = [], set()
    for folder_cell, _job, files_cell in rows(text):
        folders = re.findall(r"`([^`]+)`", folder_cell)
        for f in folders:
            if not os.path.exists(os.path.join(ROOT, f)):
                errors.append(f"code map names {f}, which does not exist")
            mapped.add(f.rstrip("/"))
        base = folders[0].rstrip("/") if folders else ""
        if not os.path.isdir(os.path.join(ROOT, base)):
            continue
        for name in re.findall(r"`([^`]+)`", files_cell):
            if name.startswith("docs/") or name.startswith("test/"):
                path = name
            else:
                path = os.path.join(base, name)
            if not os.path.exists(os.path.join(ROOT, path)):
                errors.append(f"code map row {base}/ names {name}, which does not exist")
    for top in ("bpf", "agent", "userspace"):
        for dirpath, _dirs, files in os.walk(os.path.join(ROOT, top)):
            rel = os.path.relpath(dirpath, ROOT)
            if any(f.endswith((".c", ".h")) for f in files) and rel not in mapped:
                errors.append(f"{rel}/ holds sources but has no row in the code map")
    for e in errors:
        print(f"check-codemap: {e}", file=sys.stderr)
    return 1 if errors else 0


if __name__ == "__main__":
    sys.exit(main())
