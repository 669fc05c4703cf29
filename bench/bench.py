#!/usr/bin/env python3
"""bench.py: helpers for scripts/bench. Python 3 standard library only.

  bench.py ports N                 print N free TCP ports on 127.0.0.1,
                                   below the ephemeral range
  bench.py cpu PID                 utime+stime (clock ticks) of PID and all
                                   its descendants, threads included
  bench.py rss PID                 VmRSS (KiB) of PID and its descendants
  bench.py idle --port P --pid PID --counts 2000,10000 [--backend-port B]
                                   open TLS connections to 127.0.0.1:P, one
                                   full handshake and one keep-alive GET /1k
                                   on each, keep them all open; at each
                                   count, the proxy's RSS and its backend
                                   connections; one JSON line
  bench.py pct FILE                percentiles (ms) of an h2load --log-file:
                                   "count p50 p90 p99 p999 max errors"
  bench.py report --raw RAW.jsonl --meta META.json --md OUT.md --txt OUT.txt
                 [--floor FLOOR.txt] [--speed OPENSSL-SPEED.txt]
                                   median per proxy over the rounds, tables,
                                   ratios to the best peer, primitives

Every network operation is bounded by a timeout and talks to 127.0.0.1 only.
"""

import argparse
import asyncio
import json
import os
import random
import re
import socket
import ssl
import statistics
import sys
import time

HOST = "127.0.0.1"
CLK_TCK = os.sysconf("SC_CLK_TCK")


# --------------------------------------------------------------- /proc


def children_map():
    kids = {}
    for d in os.listdir("/proc"):
        if not d.isdigit():
            continue
        try:
            with open("/proc/%s/stat" % d) as f:
                s = f.read()
        except OSError:
            continue
        ppid = int(s[s.rindex(")") + 2:].split()[1])
        kids.setdefault(ppid, []).append(int(d))
    return kids


def tree(pid):
    kids = children_map()
    out, todo = [], [pid]
    while todo:
        p = todo.pop()
        out.append(p)
        todo.extend(kids.get(p, []))
    return out


def tree_files(pid, name):
    """The text of /proc/P/NAME for every process P of pid's tree (processes
    that exited meanwhile are skipped)."""
    for p in tree(pid):
        try:
            with open("/proc/%d/%s" % (p, name)) as f:
                yield f.read()
        except OSError:
            continue


def cpu_ticks(pid):
    total = 0
    for s in tree_files(pid, "stat"):
        fields = s[s.rindex(")") + 2:].split()
        total += int(fields[11]) + int(fields[12])  # utime, stime (14, 15)
    return total


def rss_kib(pid):
    total = 0
    for s in tree_files(pid, "status"):
        for line in s.splitlines():
            if line.startswith("VmRSS:"):
                total += int(line.split()[1])
    return total


def established_to(port):
    """Established TCP connections to 127.0.0.1:port (IPv4)."""
    if not port:
        return None
    n = 0
    want = ":%04X" % port
    with open("/proc/net/tcp") as f:
        next(f)
        for line in f:
            parts = line.split()
            if parts[2].endswith(want) and parts[3] == "01":
                n += 1
    return n


# --------------------------------------------------------------- idle


async def open_one(port, path, ctx, timeout):
    reader, writer = await asyncio.wait_for(
        asyncio.open_connection(HOST, port, ssl=ctx, server_hostname="localhost"),
        timeout)
    req = ("GET %s HTTP/1.1\r\nHost: localhost\r\nUser-Agent: bench-idle\r\n\r\n" % path).encode()
    writer.write(req)
    head = await asyncio.wait_for(reader.readuntil(b"\r\n\r\n"), timeout)
    length = 0
    for line in head.split(b"\r\n"):
        if line.lower().startswith(b"content-length:"):
            length = int(line.split(b":", 1)[1])
    if not head.startswith(b"HTTP/1.1 200"):
        raise RuntimeError("bad status: %r" % head[:40])
    await asyncio.wait_for(reader.readexactly(length), timeout)
    return reader, writer


async def idle_main(a):
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    ctx.check_hostname = False
    ctx.verify_mode = ssl.CERT_NONE
    counts = [int(c) for c in a.counts.split(",")]
    conns, errors = [], 0
    sem = asyncio.Semaphore(a.concurrency)
    deadline = time.monotonic() + a.max_seconds

    async def one():
        nonlocal errors
        async with sem:
            try:
                conns.append(await open_one(a.port, a.path, ctx, 10))
            except Exception:  # noqa: BLE001 (counted, reported)
                errors += 1

    # Warm up: a few connections, closed, so the baseline includes the
    # proxy's first-connection allocations (TLS contexts, pools).
    for _ in range(a.warmup):
        try:
            r, w = await open_one(a.port, a.path, ctx, 10)
            w.close()
        except Exception:  # noqa: BLE001
            errors += 1
    await asyncio.sleep(a.settle)
    base = rss_kib(a.pid)
    result = {"base_kib": base, "points": []}
    t0 = time.monotonic()
    for n in counts:
        todo = n - len(conns)
        i = 0
        while i < todo and time.monotonic() < deadline and errors <= a.max_errors:
            batch = min(a.concurrency * 4, todo - i)
            await asyncio.gather(*(one() for _ in range(batch)))
            i += batch
        await asyncio.sleep(a.settle)
        # Each connection still open? A quick non-blocking check of the
        # reader: EOF means the proxy closed it.
        alive = sum(1 for r, _ in conns if not r.at_eof())
        result["points"].append({"n": n, "open": len(conns), "alive": alive,
                                 "kib": rss_kib(a.pid),
                                 "backend_conns": established_to(a.backend_port),
                                 "secs": round(time.monotonic() - t0, 2)})
    result["errors"] = errors
    print(json.dumps(result), flush=True)
    for _, w in conns:
        w.close()
    return 0 if errors == 0 else 1


# --------------------------------------------------------------- pct


def percentile(sorted_vals, q):
    if not sorted_vals:
        return float("nan")
    k = max(0, min(len(sorted_vals) - 1, int(round(q * len(sorted_vals) + 0.5)) - 1))
    return sorted_vals[k]


def pct_main(a):
    vals, errors = [], 0
    with open(a.file) as f:
        for line in f:
            parts = line.split()
            if len(parts) < 3:
                continue
            if not parts[1].startswith("2"):
                errors += 1
                continue
            vals.append(int(parts[2]) / 1000.0)  # µs -> ms
    vals.sort()
    print(len(vals), *("%.3f" % percentile(vals, q) for q in (0.5, 0.9, 0.99, 0.999)),
          "%.3f" % (vals[-1] if vals else float("nan")), errors)
    return 0


# --------------------------------------------------------------- report

WORKLOADS = {
    "W1": "full handshakes, one request (GET /1k) per connection",
    "W2": "keep-alive, 1 KiB responses",
    "W3": "keep-alive, 1 MiB responses",
    "W4": "idle TLS connections: proxy RSS growth",
    "W5": "resumed handshakes (session tickets), one request per connection",
    "W6": "latency at a fixed moderate rate, 1 KiB responses",
}
UNIT = {"W1": "handshake", "W2": "request", "W3": "MiB", "W5": "handshake", "W6": "request"}
RATE = {"W1": "handshakes/s", "W2": "req/s", "W3": "MiB/s", "W5": "handshakes/s", "W6": "req/s"}


def med(xs):
    xs = [x for x in xs if x is not None]
    return statistics.median(xs) if xs else None


def fmt(x, nd=0):
    if x is None:
        return "-"
    if nd == 0:
        return "{:,.0f}".format(x)
    return "{:,.{}f}".format(x, nd)


def spread(xs, nd=0):
    xs = [x for x in xs if x is not None]
    if not xs:
        return "-"
    m = statistics.median(xs)
    if len(xs) == 1:
        return fmt(m, nd)
    return "%s (%s–%s)" % (fmt(m, nd), fmt(min(xs), nd), fmt(max(xs), nd))


def workers_summary(summary, w, rows):
    """W2 with 2 workers on one CPU against 1: the scaling check's row."""
    one = next((r for r in rows if r["proxy"] == "tlsterm"), None)
    two = next((r for r in rows if r["proxy"] == "tlsterm2w"), None)
    if one and two and one["mcpu"] and two["mcpu"]:
        summary.append((w, "2 workers", "CPU µs/request", fmt(two["mcpu"], 1),
                        "tlsterm, 1 worker %s" % fmt(one["mcpu"], 1),
                        "%.2f" % (two["mcpu"] / one["mcpu"]), "-"))


def report_main(a):
    recs = []
    with open(a.raw) as f:
        for line in f:
            line = line.strip()
            if line:
                recs.append(json.loads(line))
    meta = {}
    if a.meta and os.path.exists(a.meta):
        with open(a.meta) as f:
            meta = json.load(f)
    groups = {}
    order = []
    for r in recs:
        key = (r["w"], r["variant"])
        if key not in groups:
            groups[key] = {}
            order.append(key)
        groups[key].setdefault(r["proxy"], []).append(r)

    md = []
    summary = []
    for key in sorted(order, key=lambda k: (k[0], order.index(k))):
        w, variant = key
        by_proxy = groups[key]
        md.append("### %s %s: %s" % (w, variant, WORKLOADS.get(w, "")))
        md.append("")
        if w == "W4":
            rows, best = w4_rows(by_proxy)
            ns = sorted({p["n"] for rs in by_proxy.values() for r in rs for p in r["points"]})
            md.append("| proxy | RSS before | " + " | ".join(
                "RSS at %s | bytes/conn at %s" % (fmt(n), fmt(n)) for n in ns) +
                " | bytes/conn ÷ best peer's |")
            md.append("|---|---:|" + "---:|---:|" * len(ns) + "---:|")
            for proxy, row in rows:
                cells = ["%s MiB" % fmt(row["base"] / 1024, 1)]
                for n in ns:
                    pt = row["pts"].get(n)
                    if pt is None:
                        cells += ["-", "-"]
                    else:
                        cells += ["%s MiB" % fmt(pt["kib"] / 1024, 1), fmt(pt["per"])]
                ratio = "-"
                top = row["pts"].get(ns[-1]) if ns else None
                if best and top and best[1]:
                    ratio = "%.2f" % (top["per"] / best[1])
                md.append("| %s | %s | %s |" % (proxy, " | ".join(cells), ratio))
            notes = [r.get("note") for rs in by_proxy.values() for r in rs if r.get("note")]
            if best and "tlsterm" in dict(rows) and ns:
                t = dict(rows)["tlsterm"]["pts"].get(ns[-1])
                if t:
                    summary.append((w, variant, "bytes/conn at %s" % fmt(ns[-1]),
                                    fmt(t["per"]), "%s %s" % (best[0], fmt(best[1])),
                                    "%.2f" % (t["per"] / best[1]) if best[1] else "-", "-"))
            md.append("")
            for n in sorted(set(notes)):
                md.append("Note: %s" % n)
                md.append("")
            continue

        unit = UNIT[w]
        has_lat = w in ("W2", "W3", "W6")
        rows = []
        for proxy, rs in by_proxy.items():
            thr = [r["units"] / r["secs"] if r["secs"] else None for r in rs]
            cpu = [r["cpu_ticks"] * 1e6 / CLK_TCK / r["units"] if r["units"] else None for r in rs]
            load = [r["cpu_ticks"] / CLK_TCK / r["secs"] * 100 if r["secs"] else None for r in rs]
            row = {"proxy": proxy, "thr": thr, "cpu": cpu, "load": load,
                   "mthr": med(thr), "mcpu": med(cpu), "n": len(rs)}
            for k in ("p50", "p90", "p99", "p999", "lat"):
                row[k] = med([r.get(k) for r in rs])
            row["errors"] = sum(r.get("errors", 0) or 0 for r in rs)
            row["reused"] = [r.get("reused") for r in rs if r.get("reused") is not None]
            row["reused_of"] = [r.get("units") for r in rs if r.get("reused") is not None]
            rows.append(row)
        rows.sort(key=lambda r: (r["proxy"] != "tlsterm", r["mcpu"] if r["mcpu"] is not None else 1e18))
        if variant.endswith("-workers"):
            workers_summary(summary, w, rows)
        peers = [r for r in rows if not r["proxy"].startswith("tlsterm") and r["mcpu"]]
        best = min(peers, key=lambda r: r["mcpu"]) if peers else None
        best_thr = max(peers, key=lambda r: r["mthr"] or 0) if peers else None
        hdr = ["proxy", RATE[w], "proxy CPU µs/%s" % unit, "proxy CPU load"]
        if w == "W6":
            hdr += ["p50 ms", "p90 ms", "p99 ms", "p99.9 ms"]
        elif has_lat:
            hdr += ["p50 ms", "p99 ms"]
        else:
            hdr += ["ms per connection"]
        if w == "W5":
            hdr += ["resumed"]
        hdr += ["CPU/%s ÷ best peer's" % unit, "errors"]
        md.append("| " + " | ".join(hdr) + " |")
        md.append("|---|" + "---:|" * (len(hdr) - 1))
        for r in rows:
            cells = [r["proxy"], spread(r["thr"], 1 if w == "W3" else 0),
                     spread(r["cpu"], 1 if (r["mcpu"] or 0) < 100 else 0),
                     "%s%%" % fmt(med(r["load"]))]
            if w == "W6":
                cells += [fmt(r[k], 3) for k in ("p50", "p90", "p99", "p999")]
            elif has_lat:
                cells += [fmt(r["p50"], 3), fmt(r["p99"], 3)]
            else:
                cells += [fmt(r["lat"], 3)]
            if w == "W5":
                cells += ["%d/%d" % (sum(r["reused"]), sum(r["reused_of"]))]
            cells += ["%.2f" % (r["mcpu"] / best["mcpu"]) if best and r["mcpu"] else "-",
                      str(r["errors"])]
            md.append("| " + " | ".join(cells) + " |")
        md.append("")
        t = next((r for r in rows if r["proxy"] == "tlsterm"), None)
        if t and best and t["mcpu"]:
            summary.append((w, variant, "CPU µs/%s" % unit,
                            fmt(t["mcpu"], 1 if t["mcpu"] < 100 else 0),
                            "%s %s" % (best["proxy"], fmt(best["mcpu"], 1 if best["mcpu"] < 100 else 0)),
                            "%.2f" % (t["mcpu"] / best["mcpu"]),
                            "%.2f (%s)" % (t["mthr"] / best_thr["mthr"], best_thr["proxy"])
                            if best_thr and best_thr["mthr"] else "-"))

    head = []
    head.append("# tlsterm benchmark results")
    head.append("")
    if meta:
        head.append("## Machine and versions")
        head.append("")
        for k, v in meta.items():
            head.append("- %s: %s" % (k, v))
        head.append("")
    if summary:
        head.append("## Summary: tlsterm against the best peer")
        head.append("")
        head.append("Ratios are tlsterm ÷ best peer: for CPU and memory, the best peer is the "
                    "one with the lowest figure (so above 1 means tlsterm spends more); for "
                    "throughput, the one with the highest (below 1 means tlsterm is slower). "
                    "Medians over the rounds.")
        head.append("")
        head.append("| workload | figure | tlsterm | best peer | ratio | throughput ratio (best) |")
        head.append("|---|---|---:|---|---:|---:|")
        for s in summary:
            head.append("| %s %s | %s | %s | %s | %s | %s |" % s)
        head.append("")
    head.append("## Tables")
    head.append("")
    head.append("Throughput and CPU: median (min–max) over the rounds. CPU is utime+stime "
                "of the proxy's processes (all threads, master and workers) from /proc, "
                "before and after each run, divided by the units the load generator "
                "completed. \"proxy CPU load\" is that CPU time over the run's wall time "
                "(100% = the one core it is pinned to).")
    head.append("")
    text = "\n".join(head + md + primitives_table(a.floor, a.speed)) + "\n"
    with open(a.md, "w") as f:
        f.write(text)
    if a.txt:
        with open(a.txt, "w") as f:
            f.write(text)
    sys.stdout.write(text)
    return 0


def parse_floor(path):
    """bench/floor lines: 'floor: op=NAME us=.. mib_per_s=..' -> {NAME: {k: v}}."""
    ops = {}
    with open(path) as f:
        for line in f:
            if not line.startswith("floor: op="):
                continue
            kv = dict(t.split("=", 1) for t in line.split()[1:] if "=" in t)
            ops[kv["op"]] = kv
    return ops


def parse_speed(path):
    """openssl speed output -> {name: µs per op or MiB/s}."""
    got = {}
    with open(path) as f:
        for line in f:
            m = re.match(r"\s*rsa 2048 bits\s+\S+\s+\S+\s+([\d.]+)", line)
            if m:
                got["rsa2048_sign"] = 1e6 / float(m.group(1))
            m = re.match(r"\s*256 bits ecdsa \(nistp256\)\s+\S+\s+\S+\s+([\d.]+)", line)
            if m:
                got["ecdsa_p256_sign"] = 1e6 / float(m.group(1))
            m = re.match(r"\s*256 bits ecdh \(nistp256\)\s+\S+\s+([\d.]+)", line)
            if m:
                got["p256_shared"] = 1e6 / float(m.group(1))
            m = re.match(r"\s*253 bits ecdh \(X25519\)\s+\S+\s+([\d.]+)", line)
            if m:
                got["x25519_shared"] = 1e6 / float(m.group(1))
            m = re.match(r"AES-128-GCM\s+([\d.]+)k", line)
            if m:
                got["aes128gcm_16k"] = float(m.group(1)) * 1000 / 1048576
            m = re.match(r"sha256\s+([\d.]+)k", line)
            if m:
                got["sha256_4k"] = float(m.group(1)) * 1000 / 1048576
    return got


def primitives_table(floor_path, speed_path):
    if not (floor_path and os.path.exists(floor_path)):
        return []
    fl = parse_floor(floor_path)
    sp = parse_speed(speed_path) if speed_path and os.path.exists(speed_path) else {}
    rows = [
        ("ECDSA P-256 sign", "ecdsa_p256_sign", "ecdsa_p256_sign", "µs"),
        ("RSA-2048 sign (mbedTLS: PSS, as TLS 1.3; OpenSSL: PKCS#1)", "rsa2048_sign_pss", "rsa2048_sign", "µs"),
        ("X25519 key generation", "x25519_keygen", None, "µs"),
        ("X25519 shared secret", "x25519_shared", "x25519_shared", "µs"),
        ("P-256 ECDH key generation", "p256_keygen", None, "µs"),
        ("P-256 ECDH shared secret", "p256_shared", "p256_shared", "µs"),
        ("AES-128-GCM, 16 KiB records", "aes128gcm_16k", "aes128gcm_16k", "MiB/s"),
        ("SHA-256, 4 KiB", "sha256_4k", "sha256_4k", "MiB/s"),
    ]
    out = ["## Crypto primitives on CPU 0: mbedTLS (bench/floor) and OpenSSL (openssl speed)", "",
           "| primitive | mbedTLS | OpenSSL | mbedTLS cost ÷ OpenSSL cost |",
           "|---|---:|---:|---:|"]
    for label, fk, sk, unit in rows:
        f = fl.get(fk)
        if not f:
            continue
        if unit == "µs":
            fv = float(f["us"])
            ov = sp.get(sk) if sk else None
            ratio = "%.1f" % (fv / ov) if ov else "-"
            out.append("| %s | %s µs | %s | %s |" % (label, fmt(fv, 1), "%s µs" % fmt(ov, 1) if ov else "-", ratio))
        else:
            fv = float(f.get("mib_per_s", 0))
            ov = sp.get(sk) if sk else None
            ratio = "%.1f" % (ov / fv) if ov and fv else "-"
            out.append("| %s | %s MiB/s | %s | %s |" % (label, fmt(fv), "%s MiB/s" % fmt(ov) if ov else "-", ratio))
    out.append("")
    return out


def w4_rows(by_proxy):
    rows = []
    for proxy, rs in by_proxy.items():
        base = med([r["base_kib"] for r in rs])
        pts = {}
        ns = sorted({p["n"] for r in rs for p in r["points"]})
        for n in ns:
            kibs, pers, alive = [], [], []
            for r in rs:
                for p in r["points"]:
                    if p["n"] == n and p["open"] > 0:
                        kibs.append(p["kib"])
                        pers.append((p["kib"] - r["base_kib"]) * 1024 / p["open"])
                        alive.append(p["alive"])
            if kibs:
                pts[n] = {"kib": med(kibs), "per": med(pers), "alive": min(alive)}
        rows.append((proxy, {"base": base, "pts": pts}))
    rows.sort(key=lambda pr: (pr[0] != "tlsterm", pr[0]))
    best = None
    for proxy, row in rows:
        if proxy == "tlsterm" or not row["pts"]:
            continue
        top = row["pts"][max(row["pts"])]["per"]
        if best is None or top < best[1]:
            best = (proxy, top)
    return rows, best


# --------------------------------------------------------------- main


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    sub = ap.add_subparsers(dest="cmd", required=True)
    p = sub.add_parser("ports")
    p.add_argument("n", type=int)
    p = sub.add_parser("cpu")
    p.add_argument("pid", type=int)
    p = sub.add_parser("rss")
    p.add_argument("pid", type=int)
    p = sub.add_parser("idle")
    p.add_argument("--port", type=int, required=True)
    p.add_argument("--pid", type=int, required=True)
    p.add_argument("--counts", required=True)
    p.add_argument("--backend-port", type=int, default=0)
    p.add_argument("--path", default="/1k")
    p.add_argument("--concurrency", type=int, default=32)
    p.add_argument("--warmup", type=int, default=20)
    p.add_argument("--settle", type=float, default=1.0)
    p.add_argument("--max-seconds", type=float, default=120)
    p.add_argument("--max-errors", type=int, default=50)
    p = sub.add_parser("pct")
    p.add_argument("file")
    p = sub.add_parser("report")
    p.add_argument("--raw", required=True)
    p.add_argument("--meta")
    p.add_argument("--md", required=True)
    p.add_argument("--txt")
    p.add_argument("--floor")
    p.add_argument("--speed")
    a = ap.parse_args()

    if a.cmd == "ports":
        # Below the ephemeral range (32768-60999 by default), so that no
        # client connection made during the run can take one of them.
        socks, tries = [], 0
        while len(socks) < a.n and tries < 1000:
            tries += 1
            s = socket.socket()
            try:
                s.bind((HOST, random.randrange(20000, 32000)))
                socks.append(s)
            except OSError:
                s.close()
        print(" ".join(str(s.getsockname()[1]) for s in socks))
        for s in socks:
            s.close()
        return 0
    if a.cmd == "cpu":
        print(cpu_ticks(a.pid))
        return 0
    if a.cmd == "rss":
        print(rss_kib(a.pid))
        return 0
    if a.cmd == "idle":
        return asyncio.run(idle_main(a))
    if a.cmd == "pct":
        return pct_main(a)
    if a.cmd == "report":
        return report_main(a)
    return 2


if __name__ == "__main__":
    sys.exit(main())
