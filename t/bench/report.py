#!/usr/bin/python3
"""Turn t/bench/bench.sh's raw results into the side-by-side table.

usage: report.py RESULTS.tsv WRKDIR WORKDIR

Standard library only. Not part of the test suite.
"""
import glob
import os
import re
import statistics
import sys

PROXIES = ("gh", "nginx")
ROWS = (("small", "small, keep-alive"), ("big", "64 KB, keep-alive"), ("close", "new connection per request"),
        ("gzip", "gzip -5 of 100 KB text"))


def ms(v):
    m = re.match(r"([\d.]+)(us|ms|s)$", v)
    if not m:
        return None
    x = float(m.group(1))
    return {"us": x / 1000, "ms": x, "s": x * 1000}[m.group(2)]


def parse_wrk(path):
    t = open(path, errors="replace").read()
    r = {"rps": None, "p50": None, "p99": None, "non2xx": 0, "sockerr": 0, "requests": 0}
    m = re.search(r"Requests/sec:\s+([\d.]+)", t)
    if m:
        r["rps"] = float(m.group(1))
    for q, k in (("50", "p50"), ("99", "p99")):
        m = re.search(r"^\s+%s%%\s+(\S+)" % q, t, re.M)
        if m:
            r[k] = ms(m.group(1))
    m = re.search(r"Non-2xx or 3xx responses:\s+(\d+)", t)
    if m:
        r["non2xx"] = int(m.group(1))
    m = re.search(r"Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)", t)
    if m:
        r["sockerr"] = sum(int(x) for x in m.groups())
    m = re.search(r"(\d+) requests in", t)
    if m:
        r["requests"] = int(m.group(1))
    return r


def med(xs):
    xs = [x for x in xs if x is not None]
    return statistics.median(xs) if xs else None


def fmt(v, nd=2):
    if v is None:
        return "-"
    if isinstance(v, str):
        return v
    if abs(v) >= 1000:
        return "{:,.0f}".format(v)
    return "{:.{}f}".format(v, nd)


def main():
    res, wrkdir, workdir = sys.argv[1:4]
    lines = [l.rstrip("\n").split("\t") for l in open(res) if l.strip()]
    table = []  # (metric, gh, nginx, ratio, target, verdict)
    notes = []

    def verdict(value, op, limit, errors=False):
        if value is None:
            return "n/a"
        ok = value >= limit if op == ">=" else value <= limit
        if errors:
            return "FAIL (errors)"
        return "pass" if ok else "FAIL"

    # --- wrk rows
    runs = {}
    for f in glob.glob(os.path.join(wrkdir, "*.txt")):
        row, proxy, rnd = os.path.basename(f)[:-4].split("-")
        runs[(row, proxy, int(rnd))] = parse_wrk(f)
    rounds = sorted({k[2] for k in runs})
    detail = []
    for row, label in ROWS:
        per = {p: [runs.get((row, p, r)) for r in rounds] for p in PROXIES}
        if not any(x for p in PROXIES for x in per[p]):
            continue
        errs = {p: sum((x["non2xx"] + x["sockerr"]) for x in per[p] if x) for p in PROXIES}
        for p in PROXIES:
            if errs[p]:
                notes.append("%s %s: %d non-2xx responses or socket errors in wrk" % (p, label, errs[p]))
        paired_rps, paired_p99, paired_p50 = [], [], []
        for i, r in enumerate(rounds):
            a, b = per["gh"][i], per["nginx"][i]
            if a and b and a["rps"] and b["rps"]:
                paired_rps.append(a["rps"] / b["rps"])
                if a["p99"] and b["p99"]:
                    paired_p99.append(a["p99"] / b["p99"])
                if a["p50"] and b["p50"]:
                    paired_p50.append(a["p50"] / b["p50"])
            detail.append("  %-28s round %d: gatehouse %s req/s p50 %s p99 %s ms | nginx %s req/s p50 %s p99 %s ms" % (
                label, r,
                fmt(a and a["rps"]), fmt(a and a["p50"], 3), fmt(a and a["p99"], 3),
                fmt(b and b["rps"]), fmt(b and b["p50"], 3), fmt(b and b["p99"], 3)))
        m = {p: {k: med([x[k] for x in per[p] if x]) for k in ("rps", "p50", "p99")} for p in PROXIES}
        rr = med(paired_rps)
        table.append(("req/s, " + label, m["gh"]["rps"], m["nginx"]["rps"], rr, ">= 1.0 (median of %d paired)" % len(paired_rps),
                      verdict(rr, ">=", 1.0, errs["gh"] > 0)))
        table.append(("p50 ms, " + label, m["gh"]["p50"], m["nginx"]["p50"], med(paired_p50), "-", "info"))
        r99 = med(paired_p99)
        table.append(("p99 ms, " + label, m["gh"]["p99"], m["nginx"]["p99"], r99, "<= 1.2", verdict(r99, "<=", 1.2, errs["gh"] > 0)))

    # --- upstream reuse, from the origin's counters around every wrk run
    reuse = {}
    for l in lines:
        if l[0] != "origin":
            continue
        row, proxy = l[1], l[2]
        try:
            a = [int(x) for x in re.findall(r"\d+", l[4])]
            b = [int(x) for x in re.findall(r"\d+", l[5])]
        except IndexError:
            continue
        if len(a) != 2 or len(b) != 2:
            continue
        # the second stats request counts one accept and one request of its own
        dacc, dreq = b[0] - a[0] - 1, b[1] - a[1] - 1
        t = reuse.setdefault((row, proxy), [0, 0])
        t[0] += dreq
        t[1] += dacc
    for row, label in ROWS + (("seq", "1 sequential client (nreq -c 1)"),):
        vals = {}
        for p in PROXIES:
            t = reuse.get((row, p))
            if t and t[0] > 0:
                vals[p] = (100.0 * (t[0] - t[1]) / t[0], t[0] / max(t[1], 1), t[0], t[1])
        if not vals:
            continue
        g, n = vals.get("gh"), vals.get("nginx")
        table.append(("upstream reuse %, " + label, g and g[0], n and n[0], (g[0] / n[0]) if g and n and n[0] else None,
                      ">= 99 %", verdict(g and g[0], ">=", 99.0)))
        table.append(("  requests per upstream conn", g and g[1], n and n[1], (g[1] / n[1]) if g and n else None, "-", "info"))
        for p in PROXIES:
            if p in vals:
                detail.append("  upstream, %s, %s: %d requests on %d new upstream connections" % (label, p, vals[p][2], vals[p][3]))

    # --- instructions per request (callgrind), and routing
    instr = {}
    for l in lines:
        if l[0] != "instr":
            continue
        routing, proxy, a, b, n1, n2 = l[1], l[2], int(l[3]), int(l[4]), int(l[5]), int(l[6])
        if a > 0 and b > 0:
            instr[(routing, proxy)] = (b - a) / (n2 - n1)
        detail.append("  callgrind %s %s routes: %d instructions at %d requests, %d at %d" % (proxy, routing, a, n1, b, n2))
    g, n = instr.get(("one", "gh")), instr.get(("one", "nginx"))
    if g or n:
        r = g / n if g and n else None
        table.append(("instructions per request", g, n, r, "<= 0.8", verdict(r, "<=", 0.8)))
    gm, nm = instr.get(("many", "gh")), instr.get(("many", "nginx"))
    if gm or nm:
        g1, n1 = instr.get(("onesame", "gh")), instr.get(("onesame", "nginx"))
        rg = gm / g1 if gm and g1 else None
        rn = nm / n1 if nm and n1 else None
        table.append(("  instr/req, 1 route, same request", g1, n1, g1 / n1 if g1 and n1 else None, "-", "info"))
        table.append(("  instr/req, 50 routes 10 servers", gm, nm, gm / nm if gm and nm else None, "-", "info"))
        table.append(("routing cost: many / one route", rg, rn, "-", "<= 1.03 (gatehouse)", verdict(rg, "<=", 1.03)))

    # --- edge protection: per request (per connection for D1, D2) as a share of P
    ep = instr.get(("edge-P", "gh")) or instr.get(("one", "gh"))
    rows = (("edge-D1", "  D1 denied, deny_action close, per conn", "<= 5 % of P"),
            ("edge-D2", "  D2 denied, 403 on a new conn each", "<= 5 % of P"),
            ("edge-L", "  429, keep-alive (info)", "-"))
    def edge_verdict(value, limit):
        return "n/a" if value is None else "PASS" if value <= limit else "MISS"

    if any(("edge-" + k, "gh") in instr for k in ("P", "D1", "D2", "R", "L")):
        table.append(("edge: instr/req P, proxied keep-alive", ep, None, None, "-", "info"))
        for key, label, target in rows:
            v = instr.get((key, "gh"))
            pct = 100.0 * v / ep if v is not None and ep else None
            table.append((label, v, None, pct and "%.1f %%" % pct, target,
                          edge_verdict(pct, 5.0) if target != "-" else "info"))
        table.append(("  D3 banned, keep-alive", "= D2", None, "-", "-", "info (403 closes)"))
        v = instr.get(("edge-R", "gh"))
        table.append(("  R rate-limited route, keep-alive / P", v, None, v / ep if v and ep else None,
                      "<= 1.03", edge_verdict(v / ep if v and ep else None, 1.03)))
        notes.append("edge rows: user-space instructions of the proxy process tree (callgrind), "
                     "the kernel's TCP work is not counted; D1 and D2 per connection, "
                     "ratio column = share of P; a 403 always closes, so D3 (a ban on a "
                     "keep-alive connection) is D2")

    # --- syscalls
    for l in lines:
        if l[0] != "syscalls":
            continue
    sc = {}
    for l in lines:
        if l[0] == "syscalls" and l[3]:
            sc[(l[1], l[2])] = int(l[3]) / int(l[4])
            detail.append("  strace %s %s: %s syscalls, %s" % (l[2], l[1], l[3], l[5] if len(l) > 5 else ""))
    for c in sorted({k[0] for k in sc}, key=lambda x: -int(x[1:])):
        g, n = sc.get((c, "gh")), sc.get((c, "nginx"))
        first = c != "c1"
        table.append(("syscalls per request, conc %s" % c[1:], g, n, g / n if g and n else None,
                      "<= 4.5" if first else "-", verdict(g, "<=", 4.5) if first else "info"))

    # --- memory
    mem = {}
    for l in lines:
        if l[0] == "memory":
            base, loaded = [int(x) for x in l[2].split()], [int(x) for x in l[3].split()]
            idle, answered, still = int(l[6]), int(l[4]), int(l[5])
            mem[l[1]] = (loaded[0], loaded[1], (loaded[0] - base[0]) * 1024.0 / max(idle, 1), base[0], answered, still, idle)
            if answered < idle or still < idle:
                notes.append("%s: only %d of %d idle clients were answered, %d still open at the measurement" % (
                    l[1], answered, idle, still))
    if mem:
        g, n = mem.get("gh"), mem.get("nginx")
        idle = (g or n)[6]
        incomplete = bool(g and (g[4] < idle or g[5] < idle))
        table.append(("memory kB (Pss sum), %d idle conns" % idle, g and g[0], n and n[0], g[0] / n[0] if g and n else None,
                      "<= 1.0", verdict(g[0] / n[0] if g and n else None, "<=", 1.0, incomplete)))
        table.append(("  memory kB (VmRSS sum)", g and g[1], n and n[1], g[1] / n[1] if g and n else None, "-", "info"))
        table.append(("  memory kB (Pss sum), no clients", g and g[3], n and n[3], g[3] / n[3] if g and n else None, "-", "info"))
        table.append(("  bytes per idle connection", g and g[2], n and n[2], g[2] / n[2] if g and n and n[2] else None, "-", "info"))

    gz = {l[1]: l[2] for l in lines if l[0] == "gzip"}
    if gz:
        notes.append("gzip -5 of /text100k (100,000 bytes): " + ", ".join(
            "%s %s bytes" % ({"gh": "gatehouse"}.get(p, p), gz[p]) for p in PROXIES if p in gz))
    notes[:0] = ["machine at %s: %s" % (l[1], l[2]) for l in lines if l[0] == "env"]
    print()
    print("Per-round detail:")
    for d in detail:
        print(d)
    if notes:
        print()
        print("Notes:")
        for n in notes:
            print("  " + n)
    print()
    hdr = ("metric", "gatehouse", "nginx", "ratio", "target", "pass/fail")
    rows = [hdr] + [(t[0], fmt(t[1]), fmt(t[2]), fmt(t[3], 3), t[4], t[5]) for t in table]
    w = [max(len(r[i]) for r in rows) for i in range(6)]
    for i, r in enumerate(rows):
        print("| " + " | ".join(r[k].ljust(w[k]) if k == 0 or k >= 4 else r[k].rjust(w[k]) for k in range(6)) + " |")
        if i == 0:
            print("|" + "|".join("-" * (w[k] + 2) for k in range(6)) + "|")


if __name__ == "__main__":
    main()
