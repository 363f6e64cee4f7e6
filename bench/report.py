#!/usr/bin/env python3
"""Markdown report from the tab-separated results bench/run.sh collects.

Each line of RESULTS.tsv is: section, proxy, key, value. Sections: meta, version, s1..s6, note.
Ratios are against Envoy on the same row key (value / Envoy's value); "n/a" without Envoy.
"""
import sys
from collections import defaultdict

ORDER = ["direct", "envoy", "weir", "sozu", "nginx", "haproxy"]
LABEL = {
    "direct": "backend directly (ceiling)",
    "envoy": "Envoy",
    "weir": "Weir",
    "sozu": "Sōzu",
    "nginx": "nginx",
    "haproxy": "HAProxy",
}


def load(path):
    data = defaultdict(dict)
    meta, versions, notes = {}, {}, defaultdict(list)
    with open(path) as f:
        for line in f:
            parts = line.rstrip("\n").split("\t", 3)
            if len(parts) != 4:
                continue
            sec, proxy, key, value = parts
            if sec == "meta":
                meta[key] = value
            elif sec == "version":
                versions[proxy] = value
            elif sec == "note":
                notes[key].append(f"{LABEL.get(proxy, proxy)}: {value}" if proxy != "-" else value)
            else:
                data[sec].setdefault(proxy, {})[key] = value
    return meta, versions, notes, data


def num(v):
    try:
        return float(v)
    except (TypeError, ValueError):
        return None


def fmt(v, digits=0):
    x = num(v)
    if x is None:
        return "n/a"
    if digits == 0:
        return f"{x:,.0f}"
    return f"{x:,.{digits}f}"


def ratio(v, ref):
    a, b = num(v), num(ref)
    if a is None or b is None or b == 0:
        return "n/a"
    return f"{a / b:.2f}"


def proxies(sec_data, with_direct=False):
    names = [p for p in ORDER if p in sec_data and (with_direct or p != "direct")]
    return names + [p for p in sec_data if p not in ORDER]


def table(head, rows):
    out = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    out += ["| " + " | ".join(r) + " |" for r in rows]
    return "\n".join(out)


def section_notes(notes, sec):
    return "".join(f"\n- {n}" for n in notes.get(sec, []))


def render(meta, versions, notes, data):
    out = []
    out.append(f"# Weir side-by-side benchmark, {meta.get('date', '?')}\n")
    if meta.get("note"):
        out.append(f"> {meta['note']}\n")
    out.append("## Machine and run\n")
    for k in ("cpu", "cores", "memory", "kernel", "os", "mode", "durations", "route set",
              "placement", "backend", "cpu lock"):
        if k in meta:
            out.append(f"- {k}: {meta[k]}")
    out.append("\n## Versions\n")
    for p in ORDER[1:] + [p for p in versions if p not in ORDER]:
        if p in versions:
            out.append(f"- {LABEL.get(p, p)}: {versions[p]}")
    gen = notes.get("install", [])
    if gen:
        out.append("\nNot measured:" + "".join(f"\n- {n}" for n in gen))

    d = data.get("s1", {})
    if d:
        out.append("\n## 1. HTTP/1.1 keep-alive, small responses (wrk -t1, "
                   f"{meta.get('s1 duration', '')})\n")
        out.append("Proxy on CPU 0 with one worker; wrk and the backend share CPU 1, so no proxy "
                   "can pass the ceiling row. CPU µs/req is the proxy's own utime+stime per "
                   "request (/proc/PID/stat), the figure the ceiling does not cap.\n")
        conns = sorted({int(k.split(".")[0][1:]) for v in d.values() for k in v})
        rows = []
        env = d.get("envoy", {})
        for c in conns:
            for p in proxies(d, with_direct=True):
                v = d[p]
                k = f"c{c}"
                rows.append([LABEL.get(p, p), str(c), fmt(v.get(f"{k}.rps")),
                             ratio(v.get(f"{k}.rps"), env.get(f"{k}.rps")),
                             fmt(v.get(f"{k}.p50"), 3), fmt(v.get(f"{k}.p99"), 3),
                             fmt(v.get(f"{k}.cpu_us"), 1) if p != "direct" else "",
                             ratio(v.get(f"{k}.cpu_us"), env.get(f"{k}.cpu_us"))
                             if p != "direct" else "",
                             fmt(v.get(f"{k}.failed"))])
        out.append(table(["proxy", "conns", "req/s", "req/s ÷ Envoy", "p50 ms", "p99 ms",
                          "CPU µs/req", "CPU ÷ Envoy", "failed"], rows))
        out.append(section_notes(notes, "s1"))

    d = data.get("s2", {})
    if d:
        out.append(f"\n## 2. HTTP/2 over TLS ({meta.get('s2 command', 'h2load')})\n")
        out.append("Percentiles come from h2load's per-request log (--log-file).\n")
        env = d.get("envoy", {})
        rows = [[LABEL.get(p, p), d[p].get("tls", "n/a"), d[p].get("proto", "n/a"),
                 fmt(d[p].get("rps")),
                 ratio(d[p].get("rps"), env.get("rps")), fmt(d[p].get("p50"), 3),
                 fmt(d[p].get("p99"), 3), fmt(d[p].get("cpu_us"), 1),
                 ratio(d[p].get("cpu_us"), env.get("cpu_us")), fmt(d[p].get("failed"))]
                for p in proxies(d)]
        out.append(table(["proxy", "TLS", "ALPN", "req/s", "req/s ÷ Envoy", "p50 ms", "p99 ms",
                          "CPU µs/req", "CPU ÷ Envoy", "failed"], rows))
        out.append(section_notes(notes, "s2"))

    d = data.get("s3", {})
    if d:
        out.append(f"\n## 3. New TLS 1.3 connections ({meta.get('s3 command', '')})\n")
        out.append("One client on CPU 1 opens connections one after another (full handshake, "
                   "SNI, no resumption). The client can be the bottleneck: the proxy's CPU "
                   "µs per handshake is the comparable figure.\n")
        env = d.get("envoy", {})
        rows = [[LABEL.get(p, p), fmt(d[p].get("rate")), ratio(d[p].get("rate"), env.get("rate")),
                 fmt(d[p].get("cpu_pct")), fmt(d[p].get("cpu_us"), 1),
                 ratio(d[p].get("cpu_us"), env.get("cpu_us")), fmt(d[p].get("errors"))]
                for p in proxies(d)]
        out.append(table(["proxy", "handshakes/s", "÷ Envoy", "proxy CPU %",
                          "proxy CPU µs/handshake", "CPU ÷ Envoy", "errors"], rows))
        out.append(section_notes(notes, "s3"))

    d = data.get("s4", {})
    if d:
        sizes = sorted({int(k.split(".")[1]) for v in d.values() for k in v
                        if k.startswith("rss.")})
        big, mid = (sizes[-1], sizes[-2]) if len(sizes) >= 2 else (None, None)
        out.append("\n## 4. Memory by route count\n")
        out.append("RSS is VmRSS summed over the proxy's processes (nginx: master and worker; "
                   "Sōzu: main and worker), read 2 s after the last route answers, no traffic. "
                   "PSS (smaps_rollup) splits pages the processes share. Peak is VmHWM summed "
                   "over the processes: the high-water mark while loading. KB/route is "
                   f"(RSS at {big} − RSS at {mid}) / {(big or 0) - (mid or 0)}.\n")
        env = d.get("envoy", {})
        head = ["proxy"] + [f"RSS MiB, {n} route{'s' if n != 1 else ''}" for n in sizes] + \
            ["KB/route", "÷ Envoy", f"peak MiB, {big}", f"PSS MiB, {big}",
             f"ready s, {big}"]

        def kb(v):
            a, b = num(v.get(f"rss.{big}")), num(v.get(f"rss.{mid}"))
            if a is None or b is None:
                return None
            return (a - b) / (big - mid)

        rows = []
        for p in proxies(d):
            v = d[p]
            rows.append([LABEL.get(p, p)] +
                        [fmt(num(v.get(f"rss.{n}")) / 1024 if num(v.get(f"rss.{n}")) else None, 1)
                         for n in sizes] +
                        [fmt(kb(v), 2), ratio(kb(v), kb(env)),
                         fmt(num(v.get(f"hwm.{big}")) / 1024 if num(v.get(f"hwm.{big}")) else None, 1),
                         fmt(num(v.get(f"pss.{big}")) / 1024 if num(v.get(f"pss.{big}")) else None, 1),
                         fmt(v.get(f"ready.{big}"), 2)])
        out.append(table(head, rows))
        out.append(section_notes(notes, "s4"))

    d = data.get("s5", {})
    if d:
        out.append("\n## 5. Config propagation\n")
        out.append(f"{meta.get('s5 method', '')}\n")
        sizes = sorted({int(k.split(".")[1]) for v in d.values() for k in v
                        if k.startswith("prop.")})
        rows = []
        env = d.get("envoy", {})
        for n in sizes:
            for p in proxies(d):
                v = d[p]
                rows.append([LABEL.get(p, p), str(n), fmt(v.get(f"prop.{n}.count")),
                             fmt(v.get(f"prop.{n}.p50"), 1),
                             ratio(v.get(f"prop.{n}.p50"), env.get(f"prop.{n}.p50")),
                             fmt(v.get(f"prop.{n}.p99"), 1), fmt(v.get(f"prop.{n}.max"), 1)])
        out.append(table(["proxy", "routes", "changes", "p50 ms", "p50 ÷ Envoy", "p99 ms",
                          "max ms"], rows))
        rows = [[LABEL.get(p, p), d[p].get("loop.routes", "n/a"),
                 d[p].get("loop.seconds", "n/a"), fmt(d[p].get("loop.changes")),
                 fmt(d[p].get("loop.requests")), fmt(d[p].get("loop.failed"))]
                for p in proxies(d) if "loop.requests" in d[p] or "loop.changes" in d[p]]
        if rows:
            out.append(f"\nChanges in a loop under load ({meta.get('s5 loop', '')}); "
                       "failed = non-2xx/3xx responses plus socket errors, should be 0:\n")
            out.append(table(["proxy", "routes", "seconds", "changes applied",
                              "requests", "failed"], rows))
        out.append(section_notes(notes, "s5"))

    d = data.get("s6", {})
    if d:
        out.append(f"\n## 6. Latency added at a fixed rate ({meta.get('s6 command', '')})\n")
        direct = d.get("direct", {})
        env = d.get("envoy", {})

        def added(v, k):
            a, b = num(v.get(k)), num(direct.get(k))
            return None if a is None or b is None else a - b

        rows = []
        for p in proxies(d, with_direct=True):
            v = d[p]
            rows.append([LABEL.get(p, p), fmt(v.get("rps")), fmt(v.get("p50"), 3),
                         fmt(v.get("p99"), 3),
                         fmt(added(v, "p50"), 3) if p != "direct" else "",
                         fmt(added(v, "p99"), 3) if p != "direct" else "",
                         ratio(added(v, "p99"), added(env, "p99")) if p != "direct" else "",
                         fmt(v.get("failed"))])
        out.append(table(["proxy", "req/s", "p50 ms", "p99 ms", "added p50 ms",
                          "added p99 ms", "added p99 ÷ Envoy", "failed"], rows))
        out.append(section_notes(notes, "s6"))
    return "\n".join(out) + "\n"


def main(args):
    meta, versions, notes, data = load(args[0])
    sys.stdout.write(render(meta, versions, notes, data))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
