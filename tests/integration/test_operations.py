"""docs/operations.md's recipes, run as written."""
import os
import re
import subprocess
import tempfile

from fleet import Signer, enroll
from ramp import ROOT, Cluster, Server, check, eq, status
from runners import PLATFORM, digest, publish, set_stable


def doc_block(name):
    text = open(os.path.join(ROOT, "docs", "operations.md")).read()
    m = re.search(rf"<!-- {name}:begin -->\n```sh\n(.*?)```\n<!-- {name}:end -->", text, re.S)
    check(m, f"docs/operations.md has no {name} block")
    return m.group(1)


def test_moving_off_the_embedded_database_keeps_everything(ctx):
    """"Moving off the embedded database": an embedded rampd with devices, a
    rollout and an uploaded artifact; the block dumps its cluster, restores
    into a second PostgreSQL and copies the files to a new data directory;
    rampd started there on RAMP_DATABASE_URL has it all."""
    s = ctx.server(embedded=True)
    signer = Signer(ctx, s)
    tokens = enroll(s, 3, platform=PLATFORM)
    v1, v2 = os.urandom(4096), os.urandom(8192)
    publish(s, signer, "ocr", "v1", v1, stable=True)
    publish(s, signer, "ocr", "v2", v2)
    rid = status(s.admin.post("/v1/rollouts", {"model": "ocr", "version": "v2", "policy": {
        "stages": [{"name": "canary", "size": 0.5, "validation_window": "1h"},
                   {"name": "full", "size": 1.0, "validation_window": "1h"}]}}), 201).json["id"]
    before = status(s.admin.get("/v1/audit/verify"), 200).json
    eq(before["ok"], True)
    desired_before = {d: status(s.admin.get("/v1/agent/desired", token=t), 200).json["models"][0]["version"]
                      for d, t in tokens.items()}
    s.stop()

    new_pg = Cluster(tempfile.mkdtemp(prefix="newpg", dir=ctx.tmp))
    new_pg.start()
    try:
        work = tempfile.mkdtemp(prefix="work", dir=ctx.tmp)
        new_dir = os.path.join(ctx.tmp, "newdata")
        env = dict(os.environ, OLD=s.data_dir, NEW=new_dir, DB=f"host={new_pg.sock} user=ramp")
        p = subprocess.run(["bash", "-euo", "pipefail", "-c", doc_block("move-off-embedded")],
                           cwd=work, env=env, capture_output=True, text=True, timeout=300)
        eq(p.returncode, 0, p.stdout + p.stderr)
        check(not os.path.exists(os.path.join(s.data_dir, "pg", "postmaster.pid")),
              "the old cluster is stopped again")

        s2 = Server(ctx, None, env={"RAMP_DATABASE_URL": new_pg.conninfo("ramp")}, data_dir=new_dir,
                    admin_token=s.admin_token)
        ctx.servers.append(s2)
        s2.start()
        check("database=external" in s2.log(), s2.log())
        devs = status(s2.admin.get("/v1/devices"), 200).json["items"]
        eq(sorted(d["id"] for d in devs), sorted(tokens))
        ro = status(s2.admin.get(f"/v1/rollouts/{rid}"), 200).json
        eq((ro["model"], ro["version"], ro["state"]), ("ocr", "v2", "progressing"))
        after = status(s2.admin.get("/v1/audit/verify"), 200).json
        eq(after["ok"], True, after)
        check(after["entries"] >= before["entries"], (before, after))
        # the devices' tokens still work, and they are told what they were told
        for d, t in tokens.items():
            eq(status(s2.admin.get("/v1/agent/desired", token=t), 200).json["models"][0]["version"],
               desired_before[d])
        for data in (v1, v2):
            eq(status(s2.admin.get(f"/v1/artifacts/{digest(data)}"), 200).body, data)
        set_stable(s2, "ocr", "v1")  # and it writes
        # the artifact store is the database now: v1's file went into it when
        # v1 was named stable, so another replica serves it
        n = new_pg.psql("ramp", "SELECT count(*) FROM artifact_objects")[0][0]
        eq(n, "1", "v1's artifact imported into the database")
        s3 = Server(ctx, None, env={"RAMP_DATABASE_URL": new_pg.conninfo("ramp")},
                    admin_token=s.admin_token)
        ctx.servers.append(s3)
        s3.start()
        eq(status(s3.admin.get(f"/v1/artifacts/{digest(v1)}"), 200).body, v1)
        s3.stop()
        s2.stop()
    finally:
        new_pg.stop()
