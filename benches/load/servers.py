"""The processes of a load run: one backend nginx and three proxies in front of it.

Every proxy gets equivalent settings: one worker thread, keep-alive to the backend (a pool of
up to 128 idle connections), the five Trinity routes, the same forwarding headers
(X-Forwarded-For/-Proto/-Host, X-Real-IP, X-Request-Id; X-Forwarded-Prefix and prefix stripping on
/minio-console), responses streamed rather than buffered, and no access log.

Everything listens on 127.0.0.1 only. Processes are started in their own session and stopped by
their own pid; nothing else is ever signalled.
"""

import os
import signal
import socket
import subprocess
import sys
import time

HOST = "127.0.0.1"
SMALL_PATH = "/api/v1/items"
BIG_PATH = "/api/v1/big"
SMALL_BODY = (b'{"items":[{"id":1,"name":"alpha"},{"id":2,"name":"beta"}],"page":1,"pages":1,"total":2}\n')
BIG_BYTES = 64 * 1024

# (route name, prefix, upstream, strip_prefix, redirect_trailing_slash) as in config/trinity.yaml.
ROUTES = [
    ("admin", "/admin", "web", False, True),
    ("api", "/api", "fastapi", False, False),
    ("trinityai", "/trinityai", "trinity-ai", False, False),
    ("minio-console", "/minio-console", "minio-console", True, False),
    ("frontend", "/", "frontend", False, False),
]


def upstreams(routes):
    """The upstream names of `routes`, in order (for ROUTES: web, fastapi, trinity-ai, minio-console, frontend)."""
    return list(dict.fromkeys(r[2] for r in routes))


class Proc:
    """A process this run started, with the pids whose CPU and memory count as its own."""

    def __init__(self, name, popen, log_path):
        self.name = name
        self.popen = popen
        self.log_path = log_path
        # For the reload scenario: the config file, routes -> its text, and the reload signal.
        self.config_path = None
        self.render = None
        self.reload_signal = None

    @property
    def pid(self):
        return self.popen.pid

    def pids(self):
        """The process and its direct children (nginx's workers)."""
        out = [self.pid]
        for entry in os.listdir("/proc"):
            if not entry.isdigit():
                continue
            try:
                with open(f"/proc/{entry}/stat") as f:
                    stat = f.read()
            except OSError:
                continue
            fields = stat[stat.rfind(")") + 2 :].split()
            if int(fields[1]) == self.pid:
                out.append(int(entry))
        return out

    def alive(self):
        return self.popen.poll() is None

    def stop(self, sig=signal.SIGTERM, timeout=10.0):
        if not self.alive():
            return
        try:
            os.kill(self.pid, sig)
            self.popen.wait(timeout=timeout)
        except (ProcessLookupError, subprocess.TimeoutExpired):
            if self.alive():
                os.kill(self.pid, signal.SIGKILL)
                self.popen.wait(timeout=5)

    def log_tail(self, n=20):
        try:
            with open(self.log_path, errors="replace") as f:
                return "".join(f.readlines()[-n:])
        except OSError:
            return ""


def write_atomic(path, text):
    """Writes a config file by rename, so a proxy watching it never reads half a file."""
    with open(path + ".new", "w") as f:
        f.write(text)
    os.replace(path + ".new", path)


def reload(proc, routes):
    """Rewrites proc's config with `routes` and sends it its reload signal."""
    write_atomic(proc.config_path, proc.render(routes))
    os.kill(proc.pid, proc.reload_signal)


def start(name, argv, workdir, env=None):
    log_path = os.path.join(workdir, f"{name}.log")
    log = open(log_path, "wb")
    popen = subprocess.Popen(
        argv,
        stdout=log,
        stderr=subprocess.STDOUT,
        stdin=subprocess.DEVNULL,
        start_new_session=True,
        env={**os.environ, **(env or {})},
    )
    log.close()
    return Proc(name, popen, log_path)


def wait_http(proc, port, path, deadline_s=20.0):
    """Waits until GET path on port answers 200 (bounded by deadline_s)."""
    end = time.monotonic() + deadline_s
    last = None
    while time.monotonic() < end:
        if not proc.alive():
            raise RuntimeError(f"{proc.name} exited:\n{proc.log_tail()}")
        try:
            status = http_get(port, path)
            if status == 200:
                return
            last = f"status {status}"
        except OSError as e:
            last = str(e)
        time.sleep(0.1)
    raise RuntimeError(f"{proc.name} not answering on {port}{path}: {last}\n{proc.log_tail()}")


def http_get(port, path, timeout=2.0):
    with socket.create_connection((HOST, port), timeout=timeout) as s:
        s.sendall(f"GET {path} HTTP/1.1\r\nHost: trinity.example.com\r\nConnection: close\r\n\r\n".encode())
        data = b""
        while b"\r\n" not in data:
            chunk = s.recv(4096)
            if not chunk:
                break
            data += chunk
    line = data.split(b"\r\n", 1)[0].split()
    return int(line[1]) if len(line) > 1 else 0


# ---------------------------------------------------------------------------------------------
# backend


def nginx_common(workdir, name, nofile):
    tmp = os.path.join(workdir, f"{name}-tmp")
    os.makedirs(tmp, exist_ok=True)
    return f"""
pid {workdir}/{name}.pid;
error_log {workdir}/{name}.error.log warn;
worker_rlimit_nofile {nofile};
events {{ worker_connections {nofile}; }}
http {{
  access_log off;
  client_body_temp_path {tmp}/body;
  proxy_temp_path {tmp}/proxy;
  fastcgi_temp_path {tmp}/fastcgi;
  uwsgi_temp_path {tmp}/uwsgi;
  scgi_temp_path {tmp}/scgi;
  keepalive_requests 1000000;
  keepalive_timeout 300s;
"""


def start_backend(workdir, port, nofile):
    """nginx as the fixed backend, one process: a small JSON body and a 64 KiB body."""
    www = os.path.join(workdir, "www")
    os.makedirs(os.path.join(www, "api/v1"), exist_ok=True)
    with open(os.path.join(www, "api/v1/items"), "wb") as f:
        f.write(SMALL_BODY)
    with open(os.path.join(www, "api/v1/big"), "wb") as f:
        f.write(bytes(i % 251 for i in range(BIG_BYTES)))
    name = f"backend-{port}"
    conf = f"""daemon off;
master_process off;
worker_processes 1;
{nginx_common(workdir, name, nofile)}
  open_file_cache max=64;
  server {{
    listen {HOST}:{port} backlog=4096;
    root {www};
    default_type application/json;
    location / {{ }}
  }}
}}
"""
    path = os.path.join(workdir, f"{name}.conf")
    with open(path, "w") as f:
        f.write(conf)
    proc = start(name, ["nginx", "-c", path, "-e", "stderr"], workdir)
    wait_http(proc, port, SMALL_PATH)
    return proc


def start_script(workdir, script, port):
    """A Python backend of this directory: sink.py (discards request bodies, for the upload
    scenario) or sse.py (timestamped server-sent events, for the SSE scenario)."""
    path = os.path.join(os.path.dirname(os.path.abspath(__file__)), script)
    proc = start(f"{script[:-3]}-{port}", [sys.executable, path, str(port)], workdir)
    wait_http(proc, port, SMALL_PATH)
    return proc


# ---------------------------------------------------------------------------------------------
# proxies


# Active health checks when a run asks for them (`--health`): an HTTP probe of the backend's small
# body every 2 s; trinity-proxy's outlier detection is on by default (5 failures eject).
HEALTH_CHECK = f"{{ path: {SMALL_PATH}, interval: 2s, timeout: 1s }}"


def trinity_yaml(port, admin_port, backends, health=False, routes=ROUTES):
    eps = ", ".join(f'"{HOST}:{p}"' for p in backends)
    lines = [
        f'listeners: ["{HOST}:{port}"]',
        f'admin: "{HOST}:{admin_port}"',
        "threads: 1",
        "client_ip:",
        '  trusted_proxies: ["10.0.0.0/8"]',
        "  header: cf-connecting-ip",
        "routes:",
    ]
    for name, prefix, upstream, strip, redirect in routes:
        extra = ""
        if strip:
            extra += ", strip_prefix: true"
        if redirect:
            extra += ", redirect_trailing_slash: true"
        lines.append(f"  - {{ name: {name}, prefix: {prefix}, upstream: {upstream}{extra} }}")
    lines.append("upstreams:")
    for u in upstreams(routes):
        check = f", health_check: {HEALTH_CHECK}" if health else ""
        lines.append(f"  {u}: {{ endpoints: [{eps}]{check} }}")
    return "\n".join(lines) + "\n"


def start_trinity(binary, workdir, name, port, admin_port, backends, env=None, health=False):
    path = os.path.join(workdir, f"{name}.yaml")
    with open(path, "w") as f:
        f.write(trinity_yaml(port, admin_port, backends, health))
    # RUST_LOG=warn: the access log (target `access`, level info) is off, as for nginx and HAProxy.
    proc = start(name, [binary, "--config", path], workdir, env={"RUST_LOG": "warn", **(env or {})})
    # It also watches the file; SIGHUP forces a reload.
    proc.config_path, proc.reload_signal = path, signal.SIGHUP
    proc.render = lambda routes: trinity_yaml(port, admin_port, backends, health, routes)
    wait_http(proc, port, SMALL_PATH)
    return proc


def nginx_proxy_conf(workdir, name, port, backends, nofile, routes=ROUTES):
    fwd = os.path.join(workdir, f"{name}-fwd.conf")
    with open(fwd, "w") as f:
        f.write(
            """proxy_http_version 1.1;
proxy_set_header Connection "";
proxy_set_header Host $http_host;
proxy_set_header X-Forwarded-For $remote_addr;
proxy_set_header X-Real-IP $remote_addr;
proxy_set_header X-Forwarded-Proto $scheme;
proxy_set_header X-Forwarded-Host $http_host;
proxy_set_header X-Request-Id $request_id;
proxy_set_header cf-connecting-ip "";
proxy_buffering off;
proxy_request_buffering off;
client_max_body_size 0;
proxy_buffer_size 16k;
proxy_buffers 4 16k;
proxy_connect_timeout 2s;
proxy_read_timeout 60s;
"""
        )
    ups = "".join(
        f"  upstream {u} {{ {' '.join(f'server {HOST}:{p};' for p in backends)} keepalive 128; keepalive_timeout 4s; }}\n"
        for u in upstreams(routes)
    )
    locs = ""
    for _, prefix, upstream, strip, redirect in routes:
        if prefix == "/":
            locs += f"    location / {{ include {fwd}; proxy_pass http://{upstream}; }}\n"
            continue
        headers = f"include {fwd};"
        if strip:
            headers += f" proxy_set_header X-Forwarded-Prefix {prefix};"
        target = f"http://{upstream}/" if strip else f"http://{upstream}"
        sub = f"{headers} proxy_pass {target};"
        exact = f"return 301 {prefix}/$is_args$args;" if redirect else sub
        locs += f"    location = {prefix} {{ {exact} }}\n    location {prefix}/ {{ {sub} }}\n"
    return f"""daemon off;
worker_processes 1;
{nginx_common(workdir, name, nofile)}
{ups}
  server {{
    listen {HOST}:{port} backlog=4096;
    add_header X-Request-Id $request_id always;
{locs}  }}
}}
"""


def start_nginx(workdir, name, port, backends, nofile):
    path = os.path.join(workdir, f"{name}.conf")
    with open(path, "w") as f:
        f.write(nginx_proxy_conf(workdir, name, port, backends, nofile))
    proc = start(name, ["nginx", "-c", path, "-e", "stderr"], workdir)
    # SIGHUP to the master = `nginx -s reload`: new workers, the old ones finish gracefully.
    proc.config_path, proc.reload_signal = path, signal.SIGHUP
    proc.render = lambda routes: nginx_proxy_conf(workdir, name, port, backends, nofile, routes)
    wait_http(proc, port, SMALL_PATH)
    return proc


def haproxy_conf(port, backends, maxconn, nofile, health=False, routes=ROUTES, no_delay=False):
    acls = []
    uses = []
    for route, prefix, upstream, strip, redirect in routes:
        if prefix == "/":
            continue
        acl = f"r_{route.replace('-', '_')}"
        # Two declarations of one ACL name are ORed: the prefix on a segment boundary.
        acls.append(f"  acl {acl} path {prefix}")
        acls.append(f"  acl {acl} path_beg {prefix}/")
        if redirect:
            acls.append(f"  http-request redirect location {prefix}/ code 301 if {{ path {prefix} }}")
        uses.append(f"  use_backend {upstream} if {acl}")
    backends_cfg = ""
    for _, prefix, upstream, strip, _ in routes:
        rules = ""
        if strip:
            rules = (
                f"  http-request set-header X-Forwarded-Prefix {prefix}\n"
                f"  http-request replace-path ^{prefix}/?(.*) /\\1\n"
            )
        check = " check inter 2s fall 3 rise 2" if health else ""
        if health:
            rules += f"  option httpchk GET {SMALL_PATH}\n"
        servers = "".join(f"  server s{i} {HOST}:{p}{check}\n" for i, p in enumerate(backends))
        backends_cfg += f"backend {upstream}\n{rules}{servers}\n"
    # ulimit-n pinned to the process limit: HAProxy would otherwise insist on 2 fds per maxconn,
    # while an idle client connection needs one.
    return f"""global
  nbthread 1
  maxconn {maxconn}
  ulimit-n {nofile}

defaults
  mode http
  maxconn {maxconn}
  timeout connect 2s
  timeout client 300s
  timeout server 60s
  timeout http-keep-alive 300s
  option http-keep-alive
  http-reuse always
  retries 2
  option redispatch 1
{"  option http-no-delay" + chr(10) if no_delay else ""}
frontend fe
  bind {HOST}:{port}
  unique-id-format %[uuid()]
  unique-id-header X-Request-Id
  http-request set-header X-Forwarded-For %[src]
  http-request set-header X-Real-IP %[src]
  http-request set-header X-Forwarded-Proto http
  http-request set-header X-Forwarded-Host %[req.hdr(host)]
  http-request del-header cf-connecting-ip
  http-response set-header X-Request-Id %[unique-id]
{chr(10).join(acls)}
{chr(10).join(uses)}
  default_backend frontend

{backends_cfg}"""


def start_haproxy(workdir, name, port, backends, maxconn, nofile, health=False, master_worker=False,
                  no_delay=False):
    """no_delay: `option http-no-delay` (no MSG_MORE on partial bodies: SSE events leave at once)."""
    path = os.path.join(workdir, f"{name}.cfg")
    with open(path, "w") as f:
        f.write(haproxy_conf(port, backends, maxconn, nofile, health, no_delay=no_delay))
    # -db: foreground, no daemon; one process unless master_worker (-W: a master that re-executes
    # itself on SIGUSR2, starts a new worker and soft-stops the old one — HAProxy's reload).
    proc = start(name, ["haproxy", *(["-W"] if master_worker else []), "-db", "-f", path], workdir)
    if master_worker:
        proc.config_path, proc.reload_signal = path, signal.SIGUSR2
        proc.render = lambda routes: haproxy_conf(port, backends, maxconn, nofile, health, routes, no_delay)
    wait_http(proc, port, SMALL_PATH)
    return proc
