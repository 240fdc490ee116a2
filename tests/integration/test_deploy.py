"""deploy/ checked: the systemd unit passes `systemd-analyze verify` and is
hardened as docs/operations.md says, the Kubernetes manifests parse and fit
together (probes, ports, secrets, selectors), the environment template
names only settings rampd knows, and the nginx front end serves rampd over
TLS."""
import json
import os
import re
import shutil
import signal
import socket
import subprocess
import time

from pki import PKI, TLSClient
from ramp import ROOT, Skip, check, eq, free_port, status, wait_for

DEPLOY = os.path.join(ROOT, "deploy")


def test_systemd_unit_passes_systemd_analyze_verify(ctx):
    if shutil.which("systemd-analyze") is None:
        raise Skip("systemd-analyze not installed")
    unit = open(os.path.join(DEPLOY, "systemd", "rampd.service")).read()
    for line in ("User=ramp", "NoNewPrivileges=yes", "ProtectSystem=strict", "StateDirectory=ramp",
                 "Environment=RAMP_DATA_DIR=/var/lib/ramp", "EnvironmentFile=/etc/ramp/rampd.env",
                 "CapabilityBoundingSet=\n", "PrivateTmp=yes", "ProtectHome=yes"):
        check(line in unit, f"unit lacks {line!r}")
    check("ExecStart=/usr/local/bin/rampd" in unit, "ExecStart")
    path = os.path.join(ctx.tmp, "rampd.service")
    with open(path, "w") as f:  # verify wants the binary to exist
        f.write(unit.replace("/usr/local/bin/rampd", ctx.rampd))
    p = subprocess.run(["systemd-analyze", "verify", path], capture_output=True, text=True, timeout=60)
    eq(p.returncode, 0, p.stdout + p.stderr)
    check("rampd.service" not in p.stderr, p.stderr)


def test_agent_unit_passes_systemd_analyze_verify(ctx):
    if shutil.which("systemd-analyze") is None:
        raise Skip("systemd-analyze not installed")
    unit = open(os.path.join(DEPLOY, "systemd", "ramp-agent.service")).read()
    for line in ("User=ramp", "NoNewPrivileges=yes", "ProtectSystem=strict", "StateDirectory=ramp",
                 "RuntimeDirectory=ramp", "ExecReload=/bin/kill -HUP $MAINPID", "Restart=always"):
        check(line in unit, f"unit lacks {line!r}")
    check("ExecStart=/usr/local/bin/ramp-agent --config /etc/ramp/agent.conf" in unit, "ExecStart")
    path = os.path.join(ctx.tmp, "ramp-agent.service")
    with open(path, "w") as f:  # verify wants the binary to exist
        f.write(unit.replace("/usr/local/bin/ramp-agent", os.path.join(ctx.build, "ramp-agent")))
    p = subprocess.run(["systemd-analyze", "verify", path], capture_output=True, text=True, timeout=60)
    eq(p.returncode, 0, p.stdout + p.stderr)
    check("ramp-agent.service" not in p.stderr, p.stderr)


def test_agent_example_configuration_names_only_keys_the_agent_knows(ctx):
    """Every key of deploy/agent.conf.example, uncommented, is read by ramp-agent: with the
    paths pointing nowhere it stops on a missing file, never on an unknown key."""
    lines = []
    for line in open(os.path.join(DEPLOY, "agent.conf.example")).read().splitlines():
        m = re.match(r"^#?\s*([a-z][a-z-]*)\s*=\s*(.*)$", line)
        # enroll-token-file is read where it stands and would stop the file early
        if m and m.group(1) != "enroll-token-file":
            lines.append(f"{m.group(1)} = {m.group(2)}")
    keys = [ln.split()[0] for ln in lines]
    check(len(keys) >= 25 and "controller" in keys and "telemetry-buffer" in keys, keys)
    path = os.path.join(ctx.tmp, "agent.conf")
    with open(path, "w") as f:
        f.write("\n".join(lines) + "\n")
    p = subprocess.run([os.path.join(ctx.build, "ramp-agent"), "--config", path,
                        "--state-dir", os.path.join(ctx.tmp, "state")],
                       capture_output=True, text=True, timeout=30)
    eq(p.returncode, 2, p.stderr)
    check("unknown key" not in p.stderr and "ramp-agent:" in p.stderr, p.stderr)


def load_yaml(path, tool):
    p = subprocess.run([tool, path], capture_output=True, text=True, timeout=30)
    eq(p.returncode, 0, f"{path}: {p.stderr}")
    return json.loads(p.stdout)


def test_kubernetes_manifests_parse_and_fit_together(ctx):
    tool = os.path.join(ctx.build, "tools", "yaml-json")
    k8s = os.path.join(DEPLOY, "k8s")
    docs = {}
    for name in sorted(os.listdir(k8s)):
        if name.endswith(".yaml"):
            for d in load_yaml(os.path.join(k8s, name), tool):
                docs[(d["kind"], d.get("metadata", {}).get("name"))] = d
    kust = docs.pop(("Kustomization", None))
    listed = set(kust["resources"])
    eq(listed, {n for n in os.listdir(k8s) if n.endswith(".yaml") and n != "kustomization.yaml"})
    dep = docs[("Deployment", "rampd")]
    spec = dep["spec"]
    check(spec["replicas"] >= 2, "several replicas")
    pod = spec["template"]
    eq(spec["selector"]["matchLabels"], pod["metadata"]["labels"])
    eq(pod["spec"]["securityContext"]["runAsNonRoot"], True)
    c = pod["spec"]["containers"][0]
    env = {e["name"]: e for e in c["env"]}
    ports = {p["name"]: p["containerPort"] for p in c["ports"]}
    eq(env["RAMP_LISTEN"]["value"], f"0.0.0.0:{ports['http']}")
    eq(env["RAMP_ALLOW_PLAINTEXT"]["value"], "1")
    eq(c["readinessProbe"]["httpGet"]["path"], "/readyz")
    eq(c["livenessProbe"]["httpGet"]["path"], "/healthz")
    eq(c["readinessProbe"]["httpGet"]["port"], "http")
    eq(c["securityContext"]["allowPrivilegeEscalation"], False)
    secret = docs[("Secret", env["RAMP_DATABASE_URL"]["valueFrom"]["secretKeyRef"]["name"])]
    check(env["RAMP_DATABASE_URL"]["valueFrom"]["secretKeyRef"]["key"] in secret["stringData"])
    check(env["RAMP_ADMIN_TOKEN"]["valueFrom"]["secretKeyRef"]["key"] in secret["stringData"])
    svc = docs[("Service", "rampd")]
    eq(svc["spec"]["selector"], pod["metadata"]["labels"])
    eq(svc["spec"]["ports"][0]["targetPort"], "http")
    pdb = docs[("PodDisruptionBudget", "rampd")]
    eq(pdb["spec"]["selector"]["matchLabels"], pod["metadata"]["labels"])
    vols = {v["name"]: v for v in pod["spec"]["volumes"]}
    claim = vols["artifacts"]["persistentVolumeClaim"]["claimName"]
    eq(docs[("PersistentVolumeClaim", claim)]["spec"]["accessModes"], ["ReadWriteMany"])
    ing = docs[("Ingress", "rampd")]
    eq(ing["spec"]["rules"][0]["http"]["paths"][0]["backend"]["service"]["name"], "rampd")
    # every setting the manifests pass is one rampd knows
    known = known_settings()
    for name in env:
        check(name in known, f"unknown setting {name}")
    if shutil.which("kubectl"):
        p = subprocess.run(["kubectl", "kustomize", k8s], capture_output=True, text=True, timeout=120)
        eq(p.returncode, 0, p.stderr)


def known_settings():
    """RAMP_<NAME> for each row X(NAME, setter, default) of the settings
    tables of config.c and config_prod.c, and RAMP_RATE_<ROLE> for each row
    of the roles table (auth/roles.h)."""
    names = set()
    for f in ("config.c", "config_prod.c"):
        text = open(os.path.join(ROOT, "server", f)).read()
        names |= {"RAMP_" + n for n in re.findall(r"^\s*X\(([A-Z_]+), \w+, ", text, re.M)}
    roles = open(os.path.join(ROOT, "server", "auth", "roles.h")).read()
    names |= {"RAMP_RATE_" + n for n in re.findall(r'^\s*X\(([A-Z]+), "', roles, re.M)}
    check(len(names) > 30, sorted(names))
    return names


def test_environment_template_names_only_settings_rampd_knows(ctx):
    text = open(os.path.join(DEPLOY, "systemd", "rampd.env")).read()
    names = re.findall(r"^#?(RAMP_[A-Z_]+)=", text, re.M)
    check(len(names) > 20, names)
    known = known_settings()
    for n in names:
        check(n in known, f"{n} is not a rampd setting")
    # and the documented table covers every setting
    ops = open(os.path.join(ROOT, "docs", "operations.md")).read()
    for n in known:
        check(f"`{n}`" in ops, f"{n} missing from docs/operations.md")


def test_nginx_front_serves_rampd_over_tls(ctx):
    nginx = shutil.which("nginx") or ("/usr/sbin/nginx" if os.path.exists("/usr/sbin/nginx") else None)
    if nginx is None:
        raise Skip("nginx not installed")
    s = ctx.server()
    ca = PKI(ctx.tmp)
    cert, key = ca.server_cert()
    tls_port, plain_port = free_port(), free_port()
    conf = open(os.path.join(DEPLOY, "nginx", "ramp.conf")).read()
    conf = (conf.replace("127.0.0.1:8080", f"127.0.0.1:{s.port}")
            .replace("listen 443 ssl http2;", f"listen 127.0.0.1:{tls_port} ssl http2;")
            .replace("listen [::]:443 ssl http2;", "")
            .replace("listen 80;", f"listen 127.0.0.1:{plain_port};")
            .replace("listen [::]:80;", "")
            .replace("/etc/ramp/tls/server.pem", cert).replace("/etc/ramp/tls/server.key", key))
    d = os.path.join(ctx.tmp, "nginx")
    os.makedirs(d)
    with open(os.path.join(d, "ramp.conf"), "w") as f:
        f.write(conf)
    with open(os.path.join(d, "nginx.conf"), "w") as f:
        f.write(("user root;\n" if os.getuid() == 0 else "") +
                f"pid {d}/nginx.pid;\nerror_log {d}/error.log;\nevents {{}}\n"
                f"http {{\n access_log off;\n client_body_temp_path {d}/body;\n"
                f" proxy_temp_path {d}/proxy;\n fastcgi_temp_path {d}/fcgi;\n"
                f" uwsgi_temp_path {d}/uwsgi;\n scgi_temp_path {d}/scgi;\n"
                f" include {d}/ramp.conf;\n}}\n")
    p = subprocess.run([nginx, "-t", "-p", d, "-c", f"{d}/nginx.conf"], capture_output=True, text=True)
    eq(p.returncode, 0, p.stderr)
    proc = subprocess.Popen([nginx, "-p", d, "-c", f"{d}/nginx.conf", "-g", "daemon off;"],
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        c = TLSClient(tls_port, ca.cert, token=s.admin_token)
        wait_for(lambda: _up(c), timeout=20, msg="nginx up")
        status(c.post("/v1/devices", {"id": "pi-1", "platform": "rpi"}), 201)
        eq(status(c.get("/v1/devices/pi-1"), 200).json["id"], "pi-1")
        status(c.get("/v1/devices", token=None), 401)
        status(c.get("/metrics", token=None), 404)
        # plain HTTP is sent to HTTPS
        sock = socket.create_connection(("127.0.0.1", plain_port), timeout=10)
        sock.sendall(b"GET /v1/devices HTTP/1.1\r\nHost: ramp.example.com\r\nConnection: close\r\n\r\n")
        head = sock.recv(4096).decode(errors="replace")
        sock.close()
        check(head.startswith("HTTP/1.1 301") and "Location: https://ramp.example.com/v1/devices" in head, head)
        c.close()
    finally:
        proc.send_signal(signal.SIGQUIT)
        try:
            proc.wait(10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


def _up(c):
    try:
        return c.get("/healthz", token=None).status == 200
    except OSError:
        time.sleep(0.1)
        return False
