"""The processes of a load run: one backend nginx and the proxies in front of it (trinity-proxy,
nginx, HAProxy, Caddy).

Every proxy gets equivalent settings: the same number of worker threads (`threads`: trinity-proxy
`threads: N`, nginx `worker_processes N`, HAProxy `nbthread N`, Caddy GOMAXPROCS=N), keep-alive to
the backend (a pool of up to 128 idle connections), the five Trinity routes, the same forwarding
headers (X-Forwarded-For/-Proto/-Host, X-Real-IP, X-Request-Id; X-Forwarded-Prefix and prefix
stripping on /minio-console), responses streamed rather than buffered, and the access log off —
or on, to a file (`access_log`), each the way it is deployed: trinity-proxy JSON lines on stdout
(`RUST_LOG=info`, batched 64 KiB / 1 s by the proxy), nginx `access_log … buffer=64k flush=1s` with
a JSON format, HAProxy `log stdout` with `option httplog` (one write per line), Caddy's JSON `log`
to a file.

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
        # The access log's file when it is on (None: off).
        self.access_log = None
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


def stop_all(procs):
    """Stops several processes at once (trinity-proxy drains for its drain_delay on SIGTERM): all are
    signalled first, then each is waited for (and killed past its timeout)."""
    for p in procs:
        if p.alive():
            try:
                os.kill(p.pid, signal.SIGTERM)
            except ProcessLookupError:
                pass
    for p in procs:
        p.stop()


def start(name, argv, workdir, env=None):
    log_path = os.path.join(workdir, f"{name}.log")
    # Appending (O_APPEND): when stdout is the access log, the harness truncates it between runs.
    log = open(log_path, "ab")
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


def trinity_yaml(port, admin_port, backends, health=False, routes=ROUTES, threads=1):
    eps = ", ".join(f'"{HOST}:{p}"' for p in backends)
    lines = [
        f'listeners: ["{HOST}:{port}"]',
        f'admin: "{HOST}:{admin_port}"',
        f"threads: {threads}",
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


def start_trinity(binary, workdir, name, port, admin_port, backends, env=None, health=False, threads=1,
                  access_log=False):
    """access_log: RUST_LOG=info, the access lines (JSON, on stdout) go to the process's log file."""
    path = os.path.join(workdir, f"{name}.yaml")
    with open(path, "w") as f:
        f.write(trinity_yaml(port, admin_port, backends, health, threads=threads))
    # RUST_LOG=warn: the access log (target `access`, level info) is off, as for the others.
    level = "info" if access_log else "warn"
    proc = start(name, [binary, "--config", path], workdir, env={"RUST_LOG": level, **(env or {})})
    if access_log:
        proc.access_log = proc.log_path
    # It also watches the file; SIGHUP forces a reload.
    proc.config_path, proc.reload_signal = path, signal.SIGHUP
    proc.render = lambda routes: trinity_yaml(port, admin_port, backends, health, routes, threads)
    wait_http(proc, port, SMALL_PATH)
    return proc


# nginx's access log when on: JSON lines with the fields of trinity-proxy's access log, buffered.
NGINX_LOG_FORMAT = ("log_format trinity escape=json '{\"timestamp\":\"$time_iso8601\",\"request_id\":\"$request_id\",'\n"
                    "    '\"client_ip\":\"$remote_addr\",\"method\":\"$request_method\",\"path\":\"$uri\",'\n"
                    "    '\"endpoint\":\"$upstream_addr\",\"status\":$status,\"request_time_s\":$request_time,'\n"
                    "    '\"bytes\":$body_bytes_sent}';")


def nginx_proxy_conf(workdir, name, port, backends, nofile, routes=ROUTES, workers=1, access_log=None):
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
    # In the server block: `access_log off` at the http level cancels every other access_log there.
    fmt, log = (f"  {NGINX_LOG_FORMAT}\n", f"    access_log {access_log} trinity buffer=64k flush=1s;\n") \
        if access_log else ("", "")
    return f"""daemon off;
worker_processes {workers};
{nginx_common(workdir, name, nofile)}
{fmt}{ups}
  server {{
    listen {HOST}:{port} backlog=4096;
    add_header X-Request-Id $request_id always;
{log}{locs}  }}
}}
"""


def start_nginx(workdir, name, port, backends, nofile, workers=1, access_log=False):
    path = os.path.join(workdir, f"{name}.conf")
    log = os.path.join(workdir, f"{name}.access.log") if access_log else None
    with open(path, "w") as f:
        f.write(nginx_proxy_conf(workdir, name, port, backends, nofile, workers=workers, access_log=log))
    proc = start(name, ["nginx", "-c", path, "-e", "stderr"], workdir)
    proc.access_log = log
    # SIGHUP to the master = `nginx -s reload`: new workers, the old ones finish gracefully.
    proc.config_path, proc.reload_signal = path, signal.SIGHUP
    proc.render = lambda routes: nginx_proxy_conf(workdir, name, port, backends, nofile, routes, workers, log)
    wait_http(proc, port, SMALL_PATH)
    return proc


def haproxy_conf(port, backends, maxconn, nofile, health=False, routes=ROUTES, no_delay=False, threads=1,
                 access_log=False):
    """access_log: `log stdout` (a write per line to the process's stdout, here its log file) with
    `option httplog`."""
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
  nbthread {threads}
  maxconn {maxconn}
  ulimit-n {nofile}
{"  log stdout format raw local0" + chr(10) if access_log else ""}
defaults
  mode http
{"  log global" + chr(10) + "  option httplog" + chr(10) if access_log else ""}  maxconn {maxconn}
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
                  no_delay=False, threads=1, access_log=False):
    """no_delay: `option http-no-delay` (no MSG_MORE on partial bodies: SSE events leave at once)."""
    path = os.path.join(workdir, f"{name}.cfg")
    with open(path, "w") as f:
        f.write(haproxy_conf(port, backends, maxconn, nofile, health, no_delay=no_delay, threads=threads,
                             access_log=access_log))
    # -db: foreground, no daemon; one process unless master_worker (-W: a master that re-executes
    # itself on SIGUSR2, starts a new worker and soft-stops the old one — HAProxy's reload).
    proc = start(name, ["haproxy", *(["-W"] if master_worker else []), "-db", "-f", path], workdir)
    if access_log:
        proc.access_log = proc.log_path
    if master_worker:
        proc.config_path, proc.reload_signal = path, signal.SIGUSR2
        proc.render = lambda routes: haproxy_conf(port, backends, maxconn, nofile, health, routes, no_delay,
                                                  threads, access_log)
    wait_http(proc, port, SMALL_PATH)
    return proc


def caddyfile(workdir, port, backends, health=False, routes=ROUTES, access_log=None):
    """Caddy with the same routes: per route a `handle` on `PREFIX` and `PREFIX/*` (the catch-all `/`
    last), reverse_proxy with keep-alive (128 idle connections per backend), X-Real-IP and
    X-Request-Id added (X-Forwarded-For/-Proto/-Host and Host are Caddy's defaults), cf-connecting-ip
    removed; no admin endpoint, no automatic HTTPS, no access log unless `access_log` (a file)."""
    to = " ".join(f"{HOST}:{p}" for p in backends)
    check = (f"\n\t\t\thealth_uri {SMALL_PATH}\n\t\t\thealth_interval 2s\n\t\t\thealth_timeout 1s" if health else "")

    def proxy(extra=""):
        return (f"reverse_proxy {{\n\t\t\tto {to}\n\t\t\theader_up X-Real-IP {{remote_host}}\n"
                f"\t\t\theader_up X-Request-Id {{http.request.uuid}}\n\t\t\theader_up -cf-connecting-ip{extra}{check}\n"
                "\t\t\ttransport http {\n\t\t\t\tkeepalive_idle_conns 128\n\t\t\t\tkeepalive_idle_conns_per_host 128\n"
                "\t\t\t}\n\t\t}")

    handles = ""
    catch_all = ""
    for route, prefix, _, strip, redirect in routes:
        if prefix == "/":
            catch_all = f"\thandle {{\n\t\t{proxy()}\n\t}}\n"
            continue
        m = f"@r_{route.replace('-', '_')}"
        if redirect:
            # Caddy 2.6 has no placeholder for "?" + the query when there is one: the query is dropped.
            handles += f"\tredir {prefix} {prefix}/ 301\n"
            handles += f"\t{m} path {prefix}/*\n"
        else:
            handles += f"\t{m} path {prefix} {prefix}/*\n"
        if strip:
            handles += (f"\thandle {m} {{\n\t\turi strip_prefix {prefix}\n\t\t"
                        f"{proxy(chr(10) + chr(9) * 3 + 'header_up X-Forwarded-Prefix ' + prefix)}\n\t}}\n")
        else:
            handles += f"\thandle {m} {{\n\t\t{proxy()}\n\t}}\n"
    log = (f"\tlog {{\n\t\toutput file {access_log} {{\n\t\t\troll_disabled\n\t\t}}\n\t\tformat json\n\t}}\n"
           if access_log else "")
    return f"""{{
\tadmin off
\tauto_https off
\tstorage file_system {workdir}/caddy-data
}}

http://:{port} {{
\tbind {HOST}
\theader X-Request-Id {{http.request.uuid}}
{log}{handles}{catch_all}}}
"""


def start_caddy(workdir, name, port, backends, threads=1, access_log=False, health=False):
    """Caddy (`caddy run`, Caddyfile) with GOMAXPROCS=threads: Go's count of threads running Go code."""
    path = os.path.join(workdir, f"{name}.Caddyfile")
    log = os.path.join(workdir, f"{name}.access.log") if access_log else None
    with open(path, "w") as f:
        f.write(caddyfile(workdir, port, backends, health, access_log=log))
    home = os.path.join(workdir, f"{name}-home")
    os.makedirs(home, exist_ok=True)
    env = {"GOMAXPROCS": str(threads), "HOME": home, "XDG_CONFIG_HOME": home, "XDG_DATA_HOME": home}
    proc = start(name, ["caddy", "run", "--config", path, "--adapter", "caddyfile"], workdir, env=env)
    proc.access_log = log
    wait_http(proc, port, SMALL_PATH)
    return proc
