#!/usr/bin/env python3
"""Helpers for bench/run.sh (standard library only).

  gen PROXY N DIR            write PROXY's config for routes r0..r{N-1} into DIR
  propagate PROXY N DIR COUNT [SECONDS]
                             change one route COUNT times (or for SECONDS), time each change
                             until the new route answers; print "changes p50_ms p99_ms max_ms"
  handshakes ADDR SNI SECS  full TLS 1.3 handshakes one after another; "count seconds errors"
  wrk OUT                    "req/s p50_ms p99_ms requests failed" from wrk --latency output
  h2load OUT LOG             "req/s p50_ms p99_ms succeeded failed alpn tls" (LOG: --log-file)
  report RESULTS.tsv         markdown tables from the results collected by run.sh

One route set for every proxy: route i answers Host r{i}.bench.example, path prefix /app/,
and forwards to the one backend. A propagation change moves one route's prefix to /v{G}/.
"""
import json
import os
import socket
import sys
import time

ADDR = {
    "backend": "127.0.60.2",
    "weir": "127.0.61.1",
    "envoy": "127.0.62.1",
    "nginx": "127.0.63.1",
    "haproxy": "127.0.64.1",
    "sozu": "127.0.65.1",
}
BACKEND_PORT = 3000
HTTP_PORT = 8080
HTTPS_PORT = 8443
ADMIN_PORT = 9901
DOMAIN = "bench.example"


def host(i):
    return f"r{i}.{DOMAIN}"


def changed_index(n):
    """The route that propagation changes: the middle one."""
    return n // 2


def write_atomic(path, text):
    """Write beside PATH under a name no proxy reads, then rename over it (one inotify move)."""
    tmp = os.path.join(os.path.dirname(path), "." + os.path.basename(path) + ".tmp")
    with open(tmp, "w") as f:
        f.write(text)
    return tmp


# ---------------------------------------------------------------- weir (Gateway API manifests)

def weir_route(i, prefix):
    return (
        "---\napiVersion: gateway.networking.k8s.io/v1\nkind: HTTPRoute\n"
        f"metadata: {{name: r{i}, namespace: default}}\n"
        "spec:\n  parentRefs: [{name: bench}]\n"
        f"  hostnames: [{host(i)}]\n"
        f"  rules: [{{matches: [{{path: {{type: PathPrefix, value: {prefix}}}}}], "
        "backendRefs: [{name: backend, port: 80}]}]\n"
    )


def gen_weir(n, d, certs):
    a = ADDR["weir"]
    with open(os.path.join(certs, "bench-tls-secret.yaml")) as f:
        secret = f.read()
    base = f"""apiVersion: gateway.networking.k8s.io/v1
kind: GatewayClass
metadata: {{name: weir}}
spec: {{controllerName: weir.dev/gateway-controller}}
---
apiVersion: gateway.networking.k8s.io/v1
kind: Gateway
metadata: {{name: bench, namespace: default}}
spec:
  gatewayClassName: weir
  addresses: [{{type: IPAddress, value: {a}}}]
  listeners:
  - {{name: http, protocol: HTTP, port: {HTTP_PORT}}}
  - name: https
    protocol: HTTPS
    port: {HTTPS_PORT}
    tls: {{certificateRefs: [{{kind: Secret, name: bench-tls}}]}}
---
apiVersion: v1
kind: Service
metadata: {{name: backend, namespace: default}}
spec: {{ports: [{{name: http, port: 80}}]}}
---
apiVersion: discovery.k8s.io/v1
kind: EndpointSlice
metadata: {{name: backend, namespace: default, labels: {{kubernetes.io/service-name: backend}}}}
addressType: IPv4
ports: [{{name: http, port: {BACKEND_PORT}}}]
endpoints: [{{addresses: [{ADDR["backend"]}]}}]
"""
    with open(os.path.join(d, "gateway.yaml"), "w") as f:
        f.write(base)
    with open(os.path.join(d, "bench-tls-secret.yaml"), "w") as f:
        f.write(secret)
    k = changed_index(n)
    with open(os.path.join(d, "routes.yaml"), "w") as f:
        f.write("".join(weir_route(i, "/app/") for i in range(n) if i != k))
    with open(os.path.join(d, "route-changing.yaml"), "w") as f:
        f.write(weir_route(k, "/app/"))


class WeirChanger:
    """One HTTPRoute per hostname; a change rewrites the changed route's own file."""

    def __init__(self, n, d):
        self.k = changed_index(n)
        self.path = os.path.join(d, "route-changing.yaml")

    def prepare(self, prefix):
        return write_atomic(self.path, weir_route(self.k, prefix))


# ---------------------------------------------------------------- envoy (bootstrap + file RDS)

def envoy_rds(n, k=None, prefix=None, version="1"):
    vhosts = []
    for i in range(n):
        p = prefix if i == k else "/app/"
        vhosts.append({
            "name": f"r{i}",
            "domains": [host(i)],
            "routes": [{"match": {"prefix": p}, "route": {"cluster": "backend"}}],
        })
    return json.dumps({
        "version_info": version,
        "resources": [{
            "@type": "type.googleapis.com/envoy.config.route.v3.RouteConfiguration",
            "name": "bench",
            "virtual_hosts": vhosts,
        }],
    })


def gen_envoy(n, d, certs):
    a = ADDR["envoy"]
    rdsdir = os.path.join(d, "rds")
    os.makedirs(rdsdir, exist_ok=True)
    with open(os.path.join(rdsdir, "rds.json"), "w") as f:
        f.write(envoy_rds(n))

    def hcm(prefix):
        return {
            "name": "envoy.filters.network.http_connection_manager",
            "typed_config": {
                "@type": "type.googleapis.com/envoy.extensions.filters.network."
                         "http_connection_manager.v3.HttpConnectionManager",
                "stat_prefix": prefix,
                "codec_type": "AUTO",
                "strip_any_host_port": True,
                "rds": {
                    "route_config_name": "bench",
                    "config_source": {
                        "resource_api_version": "V3",
                        "path_config_source": {
                            "path": os.path.join(rdsdir, "rds.json"),
                            "watched_directory": {"path": rdsdir},
                        },
                    },
                },
                "http_filters": [{
                    "name": "envoy.filters.http.router",
                    "typed_config": {"@type": "type.googleapis.com/"
                                     "envoy.extensions.filters.http.router.v3.Router"},
                }],
            },
        }

    def sock(port):
        return {"socket_address": {"address": a, "port_value": port}}

    tls = {
        "name": "envoy.transport_sockets.tls",
        "typed_config": {
            "@type": "type.googleapis.com/"
                     "envoy.extensions.transport_sockets.tls.v3.DownstreamTlsContext",
            "common_tls_context": {
                "alpn_protocols": ["h2", "http/1.1"],
                "tls_certificates": [{
                    "certificate_chain": {"filename": os.path.join(certs, "tls.crt")},
                    "private_key": {"filename": os.path.join(certs, "tls.key")},
                }],
            },
        },
    }
    big = 1_000_000
    boot = {
        "node": {"id": "bench", "cluster": "bench"},
        "admin": {"address": sock(ADMIN_PORT)},
        "static_resources": {
            "listeners": [
                {"name": "http", "address": sock(HTTP_PORT),
                 "filter_chains": [{"filters": [hcm("http")]}]},
                {"name": "https", "address": sock(HTTPS_PORT),
                 "filter_chains": [{"filters": [hcm("https")], "transport_socket": tls}]},
            ],
            "clusters": [{
                "name": "backend",
                "type": "STATIC",
                "connect_timeout": "1s",
                "circuit_breakers": {"thresholds": [{
                    "max_connections": big, "max_pending_requests": big,
                    "max_requests": big}]},
                "load_assignment": {
                    "cluster_name": "backend",
                    "endpoints": [{"lb_endpoints": [{"endpoint": {
                        "address": {"socket_address": {"address": ADDR["backend"],
                                                       "port_value": BACKEND_PORT}}}}]}],
                },
            }],
        },
    }
    with open(os.path.join(d, "envoy.json"), "w") as f:
        json.dump(boot, f, indent=1)


class EnvoyChanger:
    """File-based RDS holds the whole RouteConfiguration: a change rewrites all of it."""

    def __init__(self, n, d):
        self.n = n
        self.k = changed_index(n)
        self.path = os.path.join(d, "rds", "rds.json")
        self.version = 1

    def prepare(self, prefix):
        self.version += 1
        return write_atomic(self.path, envoy_rds(self.n, self.k, prefix, str(self.version)))


# ---------------------------------------------------------------- nginx (one server per host)

def gen_nginx(n, d, certs):
    a = ADDR["nginx"]
    out = [f"""worker_processes 1;
worker_cpu_affinity 01;
pid {d}/nginx.pid;
error_log {d}/error.log error;
events {{ worker_connections 20000; }}
http {{
  access_log off;
  server_names_hash_max_size 131072;
  server_names_hash_bucket_size 128;
  keepalive_requests 1000000;
  ssl_protocols TLSv1.2 TLSv1.3;  # 1.22 leaves TLS 1.3 out by default
  ssl_certificate {certs}/tls.crt;
  ssl_certificate_key {certs}/tls.key;
  proxy_http_version 1.1;
  proxy_set_header Connection "";
  client_body_temp_path {d}/tmp; proxy_temp_path {d}/tmp;
  fastcgi_temp_path {d}/tmp; uwsgi_temp_path {d}/tmp; scgi_temp_path {d}/tmp;
  upstream backend {{ server {ADDR["backend"]}:{BACKEND_PORT}; keepalive 512; keepalive_requests 1000000; }}
  server {{
    listen {a}:{HTTP_PORT} default_server;
    listen {a}:{HTTPS_PORT} ssl http2 default_server;
    return 404;
  }}
"""]
    for i in range(n):
        out.append(
            f"  server {{ listen {a}:{HTTP_PORT}; listen {a}:{HTTPS_PORT} ssl http2; "
            f"server_name {host(i)}; location /app/ {{ proxy_pass http://backend; }} }}\n")
    out.append("}\n")
    os.makedirs(os.path.join(d, "tmp"), exist_ok=True)
    with open(os.path.join(d, "nginx.conf"), "w") as f:
        f.write("".join(out))


def gen_backend(d):
    """The shared backend: a separate nginx, one worker, a small fixed body."""
    a = ADDR["backend"]
    os.makedirs(os.path.join(d, "tmp"), exist_ok=True)
    with open(os.path.join(d, "nginx.conf"), "w") as f:
        f.write(f"""worker_processes 1;
worker_cpu_affinity 10;
pid {d}/nginx.pid;
error_log {d}/error.log error;
events {{ worker_connections 20000; }}
http {{
  access_log off;
  keepalive_requests 10000000;
  keepalive_timeout 300s;
  client_body_temp_path {d}/tmp; proxy_temp_path {d}/tmp;
  fastcgi_temp_path {d}/tmp; uwsgi_temp_path {d}/tmp; scgi_temp_path {d}/tmp;
  server {{
    listen {a}:{BACKEND_PORT} default_server reuseport backlog=4096;
    default_type text/plain;
    location / {{ return 200 "ok\\n"; }}
  }}
}}
""")


# ---------------------------------------------------------------- haproxy (host map)

def gen_haproxy(n, d, certs):
    a = ADDR["haproxy"]
    with open(os.path.join(d, "hosts.map"), "w") as f:
        f.write("".join(f"{host(i)} backend\n" for i in range(n)))
    with open(os.path.join(d, "haproxy.cfg"), "w") as f:
        f.write(f"""global
  nbthread 1
  maxconn 8000
  log stdout format raw local0 err
defaults
  mode http
  timeout connect 5s
  timeout client 60s
  timeout server 60s
  timeout http-keep-alive 60s
  option http-keep-alive
  http-reuse always
frontend bench
  bind {a}:{HTTP_PORT}
  bind {a}:{HTTPS_PORT} ssl crt {certs}/combined.pem alpn h2,http/1.1
  use_backend %[req.hdr(host),field(1,:),lower,map({d}/hosts.map)] if {{ path_beg /app/ }}
  default_backend notfound
backend backend
  server b1 {ADDR["backend"]}:{BACKEND_PORT}
backend notfound
  http-request return status 404
""")


# ---------------------------------------------------------------- sozu (TOML, one cluster)

def gen_sozu(n, d, certs):
    a = ADDR["sozu"]
    out = [f"""command_socket = "{d}/sozu.sock"
log_level = "error"
log_target = "stdout"
worker_count = 1
worker_automatic_restart = false
handle_process_affinity = false
max_connections = 8000
max_buffers = 16000
command_buffer_size = 16777216
max_command_buffer_size = 268435456
activate_listeners = true

[[listeners]]
protocol = "http"
address = "{a}:{HTTP_PORT}"

[[listeners]]
protocol = "https"
address = "{a}:{HTTPS_PORT}"
tls_versions = ["TLS_V12", "TLS_V13"]
certificate = "{certs}/tls.crt"
key = "{certs}/tls.key"

[clusters.backend]
protocol = "http"
load_balancing = "ROUND_ROBIN"
backends = [{{ address = "{ADDR["backend"]}:{BACKEND_PORT}" }}]
frontends = [
"""]
    for i in range(n):
        out.append(f'  {{ address = "{a}:{HTTP_PORT}", hostname = "{host(i)}", '
                   'path = "/app/", path_type = "PREFIX" },\n')
        out.append(f'  {{ address = "{a}:{HTTPS_PORT}", hostname = "{host(i)}", '
                   'path = "/app/", path_type = "PREFIX", '
                   f'certificate = "{certs}/tls.crt", key = "{certs}/tls.key" }},\n')
    out.append("]\n")
    with open(os.path.join(d, "sozu.toml"), "w") as f:
        f.write("".join(out))


GEN = {"weir": gen_weir, "envoy": gen_envoy, "nginx": gen_nginx,
       "haproxy": gen_haproxy, "sozu": gen_sozu}
CHANGERS = {"weir": WeirChanger, "envoy": EnvoyChanger}


# ---------------------------------------------------------------- propagation

def get_status(addr, hostname, path, timeout=1.0):
    """One request on a fresh connection; the status code, or 0 on a socket error."""
    try:
        with socket.create_connection((addr, HTTP_PORT), timeout=timeout) as s:
            s.sendall(f"GET {path} HTTP/1.1\r\nHost: {hostname}\r\n"
                      "Connection: close\r\n\r\n".encode())
            head = s.recv(64)
        return int(head.split(b" ", 2)[1])
    except (OSError, ValueError, IndexError):
        return 0


def pctl(values, p):
    """Nearest-rank percentile of a non-empty list."""
    v = sorted(values)
    idx = max(0, min(len(v) - 1, int(-(-p * len(v) // 100)) - 1))
    return v[idx]


def propagate(proxy, n, d, count, seconds=None, pause=0.0, timeout=30.0):
    changer = CHANGERS[proxy](n, d)
    addr = ADDR[proxy]
    h = host(changer.k)
    times = []
    stale = 0
    g = 0
    end = time.monotonic() + seconds if seconds else None
    while (end is None and g < count) or (end is not None and time.monotonic() < end):
        g += 1
        prefix = f"/v{g}/"
        tmp = changer.prepare(prefix)
        # The new path must not answer before the change.
        if get_status(addr, h, prefix) == 200:
            stale += 1
        t0 = time.monotonic()
        os.rename(tmp, changer.path)
        while True:
            if get_status(addr, h, prefix) == 200:
                break
            if time.monotonic() - t0 > timeout:
                print(f"change {g} did not answer within {timeout}s", file=sys.stderr)
                return 1
            time.sleep(0.001)
        times.append((time.monotonic() - t0) * 1000.0)
        if pause:
            time.sleep(pause)
    if stale:
        print(f"{stale} changes answered before they were written", file=sys.stderr)
    print(f"{len(times)} {pctl(times, 50):.1f} {pctl(times, 99):.1f} {max(times):.1f}")
    return 0


# ---------------------------------------------------------------- TLS 1.3 full handshakes

def handshakes(addr, sni, seconds):
    """New TLS 1.3 connections, one after another, each a full handshake (no resumption),
    with SNI (openssl s_time sends none, and Sozu answers no certificate without it).
    Prints "handshakes seconds errors"."""
    import ssl
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    ctx.minimum_version = ssl.TLSVersion.TLSv1_3
    ctx.check_hostname = False
    ctx.verify_mode = ssl.CERT_NONE  # the CertificateVerify signature is still checked
    ctx.options |= ssl.OP_NO_TICKET
    ok = errors = 0
    t0 = time.monotonic()
    end = t0 + seconds
    while time.monotonic() < end:
        try:
            with socket.create_connection((addr, HTTPS_PORT), timeout=2) as raw:
                raw.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, b"\x01\0\0\0\0\0\0\0")
                with ctx.wrap_socket(raw, server_hostname=sni) as s:
                    s.do_handshake()
            ok += 1
        except OSError:
            errors += 1
    print(f"{ok} {time.monotonic() - t0:.3f} {errors}")


# ---------------------------------------------------------------- output parsers

def to_ms(s):
    """wrk latency ("170.00us", "1.23ms", "1.00s", "2.00m") in milliseconds."""
    for unit, f in (("us", 0.001), ("ms", 1.0), ("s", 1000.0), ("m", 60000.0)):
        if s.endswith(unit):
            return float(s[: -len(unit)]) * f
    return float(s)


def parse_wrk(path):
    """Prints "req/s p50_ms p99_ms requests failed" (failed: non-2xx/3xx plus socket errors)."""
    rps = p50 = p99 = None
    requests = failed = 0
    with open(path) as f:
        for line in f:
            w = line.split()
            if not w:
                continue
            if w[0] == "Requests/sec:":
                rps = float(w[1])
            elif w[0] == "50%":
                p50 = to_ms(w[1])
            elif w[0] == "99%":
                p99 = to_ms(w[1])
            elif len(w) > 2 and w[1] == "requests" and w[2] == "in":
                requests = int(w[0])
            elif line.strip().startswith("Non-2xx or 3xx responses:"):
                failed += int(w[-1])
            elif w[0] == "Socket" and w[1] == "errors:":
                # Socket errors: connect 0, read 0, write 0, timeout 0
                failed += sum(int(x.rstrip(",")) for x in w[3::2])
    if rps is None:
        print("n/a n/a n/a 0 0")
        return 1
    def ms(v):
        return "n/a" if v is None else f"{v:.3f}"
    print(f"{rps:.0f} {ms(p50)} {ms(p99)} {requests} {failed}")
    return 0


def log_latencies(path):
    lat, failed = [], 0
    with open(path) as f:
        for line in f:
            cols = line.split("\t")
            if len(cols) < 3:
                continue
            if cols[1].strip() == "-1":
                failed += 1
            else:
                lat.append(int(cols[2]) / 1000.0)
    return lat, failed


def parse_h2load(path, log):
    """Prints "req/s p50_ms p99_ms succeeded failed alpn tls_version" from h2load's output and its
    --log-file (percentiles come from the per-request log: h2load itself prints none)."""
    rps, succeeded, failed, proto, tls = None, 0, 0, "none", "none"
    with open(path) as f:
        for line in f:
            if line.startswith("finished in"):
                rps = float(line.split(",")[1].split()[0])
            elif line.startswith("requests:"):
                parts = dict(reversed(p.strip().split(" ", 1)) for p in line[9:].split(","))
                succeeded = int(parts.get("succeeded", 0))
                failed = int(parts.get("failed", 0)) + int(parts.get("errored", 0)) + \
                    int(parts.get("timeout", 0))
            elif line.startswith("Application protocol:"):
                proto = line.split(":", 1)[1].strip()
            elif line.startswith("TLS Protocol:"):
                tls = line.split(":", 1)[1].strip()
            elif line.startswith("status codes:"):
                codes = dict(reversed(p.strip().split(" ", 1)) for p in line[13:].split(","))
                failed += sum(int(v) for k, v in codes.items() if k != "2xx")
    lat, _ = log_latencies(log) if os.path.exists(log) else ([], 0)
    if rps is None or not lat or succeeded == 0:
        print(f"n/a n/a n/a {succeeded} {failed} {proto} {tls}")
        return 1
    print(f"{rps:.0f} {pctl(lat, 50):.3f} {pctl(lat, 99):.3f} {succeeded} {failed} {proto} {tls}")
    return 0


def main(argv):
    if len(argv) < 2:
        print(__doc__)
        return 2
    cmd = argv[1]
    if cmd == "gen":
        proxy, n, d = argv[2], int(argv[3]), argv[4]
        certs = os.environ["BENCH_CERTS"]
        os.makedirs(d, exist_ok=True)
        if proxy == "backend":
            gen_backend(d)
        else:
            GEN[proxy](n, d, certs)
        return 0
    if cmd == "propagate":
        proxy, n, d, count = argv[2], int(argv[3]), argv[4], int(argv[5])
        seconds = float(argv[6]) if len(argv) > 6 else None
        pause = float(os.environ.get("BENCH_CHANGE_PAUSE", "0.05"))
        return propagate(proxy, n, d, count, seconds, pause)
    if cmd == "handshakes":
        handshakes(argv[2], argv[3], float(argv[4]))
        return 0
    if cmd == "wrk":
        return parse_wrk(argv[2])
    if cmd == "h2load":
        return parse_h2load(argv[2], argv[3])
    print(__doc__)
    return 2


if __name__ == "__main__":
    sys.exit(main(sys.argv))
