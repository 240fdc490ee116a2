"""The documentation names what the code has."""
import glob
import os
import re

from ramp import ROOT, check


def test_store_md_names_every_migration(ctx):
    text = open(os.path.join(ROOT, "docs", "internals", "store.md")).read()
    names = [os.path.basename(p)[:-4] for p in sorted(glob.glob(os.path.join(ROOT, "schema", "*.sql")))]
    check(names, "no schema/*.sql")
    missing = [n for n in names if not re.search(rf"^\| {re.escape(n)} \|", text, re.M)]
    check(not missing, f"docs/internals/store.md has no row for {missing}")


def test_operations_md_says_how_migrations_commit(ctx):
    """migrate.c commits each file in its own transaction."""
    src = open(os.path.join(ROOT, "server", "store", "migrate.c")).read()
    check("db_begin" in src.split("static int apply_one", 1)[1].split("int migrate_run", 1)[0],
          "apply_one no longer opens a transaction per file: update docs/operations.md")
    text = " ".join(open(os.path.join(ROOT, "docs", "operations.md")).read().split())
    check("each file in its own transaction" in text, "docs/operations.md on migrations")
