#!/usr/bin/env python3
"""The include graph of server/, folder -> folders, checked against the flow
of docs (DESIGN.md, "one direction of flow"):

    api -> http | engine -> auth -> snapshot -> store | domain -> common

A folder may include itself and what sits below it, never what sits above
or beside it (http and engine do not include each other). common is usable
by all. The top (main.c, config*) may include anything; app.h and config.h
are the process context and settings types every folder is handed, so any
folder may include them. ui/ holds the dashboard's generated assets, which
only api serves.

Prints "from -> to, to" per folder; exits 1 (listing each file and include)
when an include points against the flow.

  python3 tests/tools/include_graph.py [server-dir]
"""
import os
import re
import sys

BELOW = {
    "common": set(),
    "domain": {"common"},
    "store": {"domain", "common"},
    "snapshot": {"store", "domain", "common"},
    "auth": {"snapshot", "store", "domain", "common"},
    "http": {"auth", "snapshot", "store", "domain", "common"},
    "engine": {"auth", "snapshot", "store", "domain", "common"},
    "api": {"http", "engine", "auth", "snapshot", "store", "domain", "common", "ui"},
    "ui": set(),
}
CONTEXT = {"app.h", "config.h"}  # top-level headers every folder may include
INCLUDE = re.compile(r'^\s*#\s*include\s+"([^"]+)"', re.M)


def folder_of(rel):
    parts = rel.split("/")
    return "top" if len(parts) == 1 else parts[0]


def main():
    root = sys.argv[1] if len(sys.argv) > 1 else os.path.join(
        os.path.dirname(os.path.abspath(__file__)), "..", "..", "server")
    root = os.path.normpath(root)
    graph, bad = {}, []
    for d, _, files in os.walk(root):
        for f in sorted(files):
            if not f.endswith((".c", ".h")):
                continue
            path = os.path.join(d, f)
            rel = os.path.relpath(path, root)
            src = folder_of(rel)
            with open(path, encoding="utf-8", errors="replace") as fh:
                text = fh.read()
            for inc in INCLUDE.findall(text):
                if "/" not in inc:
                    if inc in CONTEXT and src != "top":
                        graph.setdefault(src, set()).add("top(" + inc + ")")
                    continue  # same folder
                dst = inc.split("/")[0]
                if dst == src:
                    continue
                graph.setdefault(src, set()).add(dst)
                if src == "top":
                    continue
                if src not in BELOW:
                    bad.append(f"{rel}: folder {src} is not in the flow (add it to {__file__})")
                elif dst not in BELOW[src]:
                    bad.append(f"{rel}: includes \"{inc}\": {src} may not include {dst}")
    order = ["top", "api", "http", "engine", "auth", "snapshot", "store", "domain", "common", "ui"]
    for src in sorted(graph, key=lambda s: (order.index(s) if s in order else 99, s)):
        tos = sorted(graph[src], key=lambda s: (order.index(s) if s in order else 99, s))
        print(f"{src} -> {', '.join(tos)}")
    if bad:
        print(f"\n{len(bad)} include(s) against the flow:")
        for b in sorted(bad):
            print("  " + b)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
