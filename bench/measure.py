#!/usr/bin/env python3
# SPDX-License-Identifier: GPL-2.0-only
"""The benchmark's measuring and reporting steps, called by bench/run.

    measure.py no-match RULES SRC            an ADDR:PORT no rule matches
    measure.py kernel-memory PIN_ROOT        bytes of splicer's maps (JSON)
    measure.py timed N CMD... [{i}]          wall time and peak RSS (JSON)
    measure.py timed -f FILE                 the same, one run per line
    measure.py ktime-bytes                   CLOCK_MONOTONIC now, as bpftool
                                             hex bytes (u64, little endian)
    measure.py report WORKDIR RESULTS        bench/run's raw figures to
                                             RESULTS, with ratios and medians
    measure.py table RESULTS                 the readable table
"""
import glob
import ipaddress
import json
import os
import shlex
import signal
import statistics
import subprocess
import sys
import time


# ------------------------------------------------------------ no-match

def parse_rules(path):
    """(dst network, proto, port lo, port hi, src network or None)."""
    rules = []
    with open(path) as f:
        for line in f:
            w = line.split()
            if not w or w[0] != "add":
                continue
            dst = ipaddress.ip_network(w[1])
            proto = w[w.index("proto") + 1]
            port = w[w.index("port") + 1]
            lo, _, hi = port.partition("-")
            src = (ipaddress.ip_network(w[w.index("from") + 1])
                   if "from" in w else None)
            rules.append((dst, proto, int(lo), int(hi or lo), src))
    return rules


def no_match(path, src):
    """A TCP destination of src's family no rule of the file matches for
    a SYN from src, whatever interface scope the rule has: documentation
    addresses first (IPv6: bench/run's NO_MATCH6 first), then one address
    in each /8 (IPv6: in each /16 of 2000::/3 and fc00::/7). Short
    prefixes in the file may cover any of them, which is why this looks
    instead of assuming. An IPv6 answer is [ADDR]:PORT."""
    src = ipaddress.ip_address(src)
    bits = src.max_prefixlen
    by_prefix = {}
    for dst, proto, lo, hi, from_ in parse_rules(path):
        if (dst.version == src.version and proto == "tcp" and
                (from_ is None or src in from_)):
            key = (dst.prefixlen, int(dst.network_address))
            by_prefix.setdefault(key, []).append((lo, hi))
    if src.version == 6:
        cands = ["fd00:b1:2::1", "2001:db8::1", "3fff::1"]
        cands += ["%x::2:1" % a for a in range(0x2000, 0x4000, 0x100)]
        cands += ["fd%02x::2:1" % a for a in range(256)]
        form = "[%s]:%d"
    else:
        cands = ["192.0.2.1", "198.51.100.1", "203.0.113.1"]
        cands += ["%d.0.2.1" % a for a in range(1, 224) if a != 127]
        form = "%s:%d"
    full = (1 << bits) - 1
    for addr in cands:
        a = int(ipaddress.ip_address(addr))
        ranges = []
        for length in range(bits + 1):
            mask = (full << (bits - length)) & full
            ranges += by_prefix.get((length, a & mask), [])
        for port in (80, 443, 8080, 5001, 9, 31337, 65535, 1):
            if not any(lo <= port <= hi for lo, hi in ranges):
                return form % (addr, port)
    sys.exit("no-match: every candidate is matched by a rule")


# ------------------------------------------------------- kernel memory

def bpftool(*args):
    p = subprocess.run(["bpftool", "-j", *args], capture_output=True,
                       text=True, timeout=60)
    if p.returncode:
        raise RuntimeError(p.stderr.strip() or p.stdout.strip())
    return json.loads(p.stdout)


def kernel_memory(pin):
    """Sums bytes_memlock (the kernel's own account of a map's memory)
    over every map pinned under the pin root, every map its pinned
    programs use, and the inner maps held by any map-in-map among them
    (the live rule index). Each map counts once."""
    ids = set()
    for root, _, files in os.walk(pin):
        for name in files:
            path = os.path.join(root, name)
            try:
                ids.add(bpftool("map", "show", "pinned", path)["id"])
                continue
            except RuntimeError:
                pass
            try:
                prog = bpftool("prog", "show", "pinned", path)
                ids.update(prog.get("map_ids", []))
            except RuntimeError:
                pass  # a link or anything else holds no map of its own
    maps, todo = {}, sorted(ids)
    while todo:
        mid = todo.pop()
        if mid in maps:
            continue
        info = bpftool("map", "show", "id", str(mid))
        maps[mid] = info
        if info["type"] in ("array_of_maps", "hash_of_maps"):
            for e in bpftool("map", "dump", "id", str(mid)):
                v = e.get("value")
                if isinstance(v, list):
                    todo.append(int.from_bytes(bytes(int(b, 16) for b in v),
                                               "little"))
                elif isinstance(v, int):
                    todo.append(v)
    out = [{"id": m["id"], "name": m.get("name", ""), "type": m["type"],
            "max_entries": m.get("max_entries", 0),
            "bytes": m.get("bytes_memlock", 0)}
           for m in sorted(maps.values(), key=lambda m: m["id"])]
    return {"bytes": sum(m["bytes"] for m in out), "maps": out}


# --------------------------------------------------------------- timed

RUN_TIMEOUT = 120  # seconds; bench/run gives splicer the same elsewhere


def timed(argvs):
    """Runs each argv in turn, each as a child of this process: wall time
    from spawn to reaping, and the peak RSS the kernel reports for it
    (wait4's ru_maxrss). The kernel keeps a process's peak across
    exec, and a child starts from this Python's (13-16 MB), so peaks
    below that are this process's, not the command's. A run still going
    after RUN_TIMEOUT seconds is killed and counted as failed. total_s
    sums every run's wall time."""
    walls, total, rss, failed, error = [], 0.0, 0, 0, ""
    child = [0]

    def kill(sig, frame):
        if child[0]:
            try:
                os.kill(child[0], signal.SIGKILL)
            except ProcessLookupError:
                pass

    signal.signal(signal.SIGALRM, kill)
    for cmd in argvs:
        signal.setitimer(signal.ITIMER_REAL, RUN_TIMEOUT)
        t0 = time.perf_counter()
        p = subprocess.Popen(cmd, stdout=subprocess.DEVNULL,
                             stderr=subprocess.PIPE)
        child[0] = p.pid
        _, status, ru = os.wait4(p.pid, 0)
        wall = time.perf_counter() - t0
        child[0] = 0
        expired = signal.setitimer(signal.ITIMER_REAL, 0)[0] == 0
        p.returncode = os.waitstatus_to_exitcode(status)
        err = p.stderr.read().decode(errors="replace").strip()
        p.stderr.close()
        rss = max(rss, ru.ru_maxrss)
        total += wall
        if p.returncode:
            failed += 1
            if expired and p.returncode == -signal.SIGKILL:
                err = "killed after %d s" % RUN_TIMEOUT
            error = error or err or "exit %d" % p.returncode
            continue
        walls.append(wall)
    res = {"runs": len(argvs), "ok": len(walls), "failed": failed,
           "max_rss_kb": rss, "total_s": total}
    if walls:
        res["median_s"] = statistics.median(walls)
        res["p90_s"] = (statistics.quantiles(walls, n=10,
                                             method="inclusive")[8]
                        if len(walls) > 1 else walls[0])
        res["min_s"] = min(walls)
        res["max_s"] = max(walls)
    if error:
        res["error"] = error
    return res


def timed_argvs(args):
    """N CMD... ({i} replaced by the run's number), or -f FILE: one run of
    each line of FILE, its words split as the shell would."""
    if args[0] == "-f":
        with open(args[1]) as f:
            return [shlex.split(line) for line in f if line.strip()]
    return [[a.replace("{i}", str(i)) for a in args[1:]]
            for i in range(int(args[0]))]


# -------------------------------------------------------------- report

SCENARIOS = ("redirect", "no_match", "established", "arp")
SCENARIOS6 = ("redirect", "no_match", "established", "nd")  # IPv6
PATHS = ("plain", "splicer", "nft", "plain6", "splicer6", "nft6")
FLOORS = ("floor_return", "floor_lookup_assign", "floor_lookup_assign6")


def load(path, default=None):
    try:
        with open(path) as f:
            return json.load(f)
    except (OSError, ValueError):
        return default


def ratio(a, b):
    return a / b if a is not None and b else None


def median_of(samples, mode, key):
    v = [x[key] for x in samples if x.get("mode") == mode and x.get(key)]
    return statistics.median(v) if v else None


def report_datapath(work, sizes, prefix="dp", scenarios=SCENARIOS):
    """The datapath figures of each size: prefix "dp" for the IPv4 sets,
    "dp6" for the IPv6 ones. Ratios to the floors measured in the same
    loop: ratio_lookup_assign to the IPv4 lookup+assign floor for either
    family (the same floor program), ratio_lookup_assign6 to its IPv6
    twin (when the run measured it)."""
    setup = load(os.path.join(work, "dp-setup.json"), {})
    dp = []
    for n in sizes:
        d = {"rules": n}
        d.update(load(os.path.join(work, "%s-%d.json" % (prefix, n)),
                      {"error": setup.get("error", "not run")}))
        ns = d.get("ns")
        if ns:
            d["ratio_return"] = {k: ratio(ns[k], ns["floor_return"])
                                 for k in scenarios}
            d["ratio_lookup_assign"] = {
                k: ratio(ns[k], ns["floor_lookup_assign"])
                for k in scenarios}
            if ns.get("floor_lookup_assign6"):
                d["ratio_lookup_assign6"] = {
                    k: ratio(ns[k], ns["floor_lookup_assign6"])
                    for k in scenarios}
        if d.get("kernel_memory"):
            d["bytes_per_rule"] = d["kernel_memory"]["bytes"] / n
        dp.append(d)
    # What a rule adds: the difference to the smallest set measured, which
    # takes out the maps whose size does not depend on the rules.
    base = next((d for d in dp if d.get("kernel_memory")), None)
    for d in dp:
        if base and d is not base and d.get("kernel_memory"):
            d["bytes_per_rule_added"] = (
                (d["kernel_memory"]["bytes"] - base["kernel_memory"]["bytes"])
                / (d["rules"] - base["rules"]))
    return dp


def last_vs_first(dp, scenarios):
    first, last = dp[0], dp[-1]
    return {"from": first["rules"], "to": last["rules"],
            "ratio": {k: (ratio(last["ns"][k], first["ns"][k])
                          if first.get("ns") and last.get("ns")
                          else None) for k in scenarios}}


def report_e2e(work):
    e2e = {}
    for p in PATHS:
        samples = []
        name = os.path.join(work, "e2e-%s.jsonl" % p)
        if os.path.exists(name):
            with open(name) as f:
                samples = [json.loads(line) for line in f if line.strip()]
        notes = []
        if os.path.exists(os.path.join(work, "e2e-%s.notes" % p)):
            with open(os.path.join(work, "e2e-%s.notes" % p)) as f:
                notes = [line.strip() for line in f if line.strip()]
        for x in samples:
            if x.get("failed"):
                notes.append("round %d %s: %d of %d failed (%s)" % (
                    x["round"], x["mode"], x["failed"], x["count"],
                    x["first_error"]))
            if x.get("slow"):
                notes.append("round %d %s: %d connections over 200 ms" % (
                    x["round"], x["mode"], x["slow"]))
            done = x.get("ok", 0) + x.get("failed", 0)
            if x["mode"] != "bulk" and done < x["count"]:
                notes.append("round %d %s: stopped at the time limit "
                             "after %d of %d" % (x["round"], x["mode"],
                                                 done, x["count"]))
        e2e[p] = {
            "conn_per_second": median_of(samples, "conn", "per_second"),
            "bulk_mbytes_per_second": median_of(samples, "bulk",
                                                "mbytes_per_second"),
            "reuse_per_second": median_of(samples, "reuse", "per_second"),
            "samples": samples,
            "notes": notes,
        }
    keys = ("conn_per_second", "bulk_mbytes_per_second", "reuse_per_second")
    e2e["ratios"] = {
        "splicer/nft": {k: ratio(e2e["splicer"][k], e2e["nft"][k])
                        for k in keys},
        "splicer/plain": {k: ratio(e2e["splicer"][k], e2e["plain"][k])
                          for k in keys},
        "splicer6/nft6": {k: ratio(e2e["splicer6"][k], e2e["nft6"][k])
                          for k in keys},
        "splicer6/plain6": {k: ratio(e2e["splicer6"][k], e2e["plain6"][k])
                            for k in keys},
    }
    return e2e


def report_cp(work, settings, key):
    c = load(os.path.join(work, "cp-%s.json" % key), {"error": "not run"})
    if key != "add" and c.get("median_s"):
        c["rules_per_second"] = settings["cp_rules"] / c["median_s"]
    return c


PROVISION = ("router_insert_from_empty", "router_delete_to_empty",
             "router_insert_with_cp_rules", "router_delete_with_cp_rules",
             "broad_add", "broad_del")


def report(work, out):
    settings = load(os.path.join(work, "settings.json"))
    res = {"machine": load(os.path.join(work, "machine.json")),
           "settings": settings}
    families = settings.get("families", [4])
    if "datapath" in settings["sections"]:
        if 4 in families:
            dp = report_datapath(work, settings["sizes"])
            res["datapath"] = dp
            if len(dp) > 1:
                res["datapath_last_vs_first"] = last_vs_first(dp, SCENARIOS)
        if 6 in families:
            dp6 = report_datapath(work, settings["sizes"], "dp6",
                                  SCENARIOS6)
            res["datapath6"] = dp6
            if len(dp6) > 1:
                res["datapath6_last_vs_first"] = last_vs_first(dp6,
                                                               SCENARIOS6)
        extra = {}
        for name in sorted(glob.glob(os.path.join(work, "dp-extra-*.json"))):
            label = os.path.basename(name)[len("dp-extra-"):-len(".json")]
            extra[label] = load(name)
        if extra:
            res["datapath_extra"] = extra
    if "control" in settings["sections"]:
        res["control_plane"] = {key: report_cp(work, settings, key)
                                for key in ("apply_empty", "apply_replace",
                                            "add")}
    if "provision" in settings["sections"]:
        pv = {key: load(os.path.join(work, "pv-%s.json" % key),
                        {"error": "not run"}) for key in PROVISION}
        # measured once a run, by whichever section came first
        for key in ("apply_empty", "apply_replace"):
            pv[key] = report_cp(work, settings, key)
        res["provision"] = pv
    if "e2e" in settings["sections"]:
        res["end_to_end"] = report_e2e(work)
    with open(out + ".tmp", "w") as f:
        json.dump(res, f, indent=1)
        f.write("\n")
    os.replace(out + ".tmp", out)


# --------------------------------------------------------------- table

def fmt(v, spec="%.1f"):
    return "-" if v is None else spec % v


def table(path):
    with open(path) as f:
        r = json.load(f)
    m = r["machine"]
    print("splicer benchmark, %s, %s, %s (%d cores), kernel %s" %
          (m["date"], m["virt"], m["cpu"], m["cores"], m["kernel"]))
    s = r["settings"]
    dp = r.get("datapath", [])
    if dp:
        print()
        print("Datapath: ns per packet, BPF_PROG_TEST_RUN, median of %d "
              "calls x %d runs on CPU %s;" % (s["calls"], s["repeat"],
                                              s["cpu"]))
        print("(xR = times the return-at-once floor, xL = times the "
              "lookup+assign floor)")
        table_datapath(dp, r.get("datapath_last_vs_first", {}),
                       ("floor_return", "floor_lookup_assign", "redirect",
                        "no_match", "established", "arp"),
                       lambda d, sc: "%.1f x%.1fR x%.1fL" % (
                           d["ns"][sc], d["ratio_return"][sc],
                           d["ratio_lookup_assign"][sc]))
        base = next((d for d in reversed(dp) if d.get("ns")), None)
        for label, d in r.get("datapath_extra", {}).items():
            if not d.get("ns") or not base:
                print("  %s: %s" % (label, d.get("error", "no figures")))
                continue
            parts = ["%s %.1f (%+.1f)" % (sc, d["ns"][sc],
                                          d["ns"][sc] - base["ns"][sc])
                     for sc in ("redirect", "no_match", "established",
                                "arp")]
            mon = d.get("monitor") or {}
            print("  %s, %s rules: %s; events %s, lost %s" % (
                label.replace("_", " "), format(base["rules"], ","),
                ", ".join(parts), mon.get("events"), mon.get("lost")))
    dp6 = r.get("datapath6", [])
    if dp6:
        print()
        print("Datapath, IPv6 frames on as many IPv6 rules, the same floors "
              "in the same loop;")
        print("(xL = times the IPv4 lookup+assign floor, as above; xL6 = "
              "times its IPv6 twin)")

        def cell6(d, sc):
            six = d.get("ratio_lookup_assign6", {}).get(sc)
            return "%.1f x%.1fL x%sL6" % (d["ns"][sc],
                                          d["ratio_lookup_assign"][sc],
                                          fmt(six))
        table_datapath(dp6, r.get("datapath6_last_vs_first", {}),
                       ("floor_return", "floor_lookup_assign",
                        "floor_lookup_assign6", "redirect", "no_match",
                        "established", "nd"), cell6, "IPv6 rules")

    cp = r.get("control_plane")
    if cp:
        print()
        print("Control plane (%s rules in a file; wall time, peak RSS):" %
              format(s["cp_rules"], ","))
        for key, what in (("apply_empty", "apply, empty set"),
                          ("apply_replace", "apply, replacing another set"),
                          ("add", "one add, %s rules present")):
            c = cp.get(key)
            if not c:
                continue
            if key == "add":
                what = what % format(c.get("rules_before", 0), ",")
            if "median_s" not in c:
                print("  %-34s failed: %s" % (what, c.get("error", "")))
                if c.get("rules_before") != c.get("rules_after"):
                    print("  %-34s rules before: %s, after: %s" % (
                        "", c.get("rules_before"), c.get("rules_after")))
                continue
            extra = ""
            if key == "add":
                extra = "median of %d, %.1f ms max" % (c["ok"],
                                                       c["max_s"] * 1e3)
                print("  %-34s %8.2f ms %22s  RSS %.1f MB" % (
                    what, c["median_s"] * 1e3, extra,
                    c["max_rss_kb"] / 1024))
            else:
                print("  %-34s %8.3f s %15s rules/s  RSS %.1f MB" % (
                    what, c["median_s"], format(round(c["rules_per_second"]),
                                                ","),
                    c["max_rss_kb"] / 1024))
            if c.get("failed"):
                print("    %d of %d failed: %s" % (c["failed"], c["runs"],
                                                   c.get("error", "")))

    pv = r.get("provision")
    if pv:
        table_provision(pv, s)

    e = r.get("end_to_end")
    if e:
        print()
        print("End to end, client ns -> router ns over veth, median of %d "
              "rounds:" % s["rounds"])
        print("%-28s%12s%12s%12s%13s%15s" % ("", "plain", "splicer",
                                            "nft tproxy", "splicer/nft",
                                            "splicer/plain"))
        rows = (("conn_per_second", "conn/s (%d parallel)" % s["parallel"]),
                ("bulk_mbytes_per_second", "bulk MB/s (1 stream)"),
                ("reuse_per_second", "TIME_WAIT reuse conn/s"))
        ra = e.get("ratios", {})
        for fam, suffix in (("IPv4", ""), ("IPv6", "6")):
            if not any(e.get(p + suffix, {}).get("samples")
                       for p in ("plain", "splicer", "nft")):
                continue
            if suffix:
                print("IPv6 (nft: tproxy ip6; to [::1]):")
            for key, what in rows:
                vals = [e.get(p + suffix, {}).get(key)
                        for p in ("plain", "splicer", "nft")]
                print("%-28s%12s%12s%12s%13s%15s" % (
                    what, *(fmt(v, "%.0f") for v in vals),
                    fmt(ra.get("splicer%s/nft%s" % (suffix, suffix),
                               {}).get(key), "%.2f"),
                    fmt(ra.get("splicer%s/plain%s" % (suffix, suffix),
                               {}).get(key), "%.2f")))
        for p in PATHS:
            for note in e.get(p, {}).get("notes", []):
                print("  %s: %s" % (p, note))


def table_datapath(dp, scale, rows, cell, what="rules"):
    """One block of the datapath table: a column per size, a row per
    scenario (cell(d, scenario) formats a measured one), then apply
    time, kernel memory and what a rule adds."""
    head = "%-20s" % what
    for d in dp:
        head += "%20s" % format(d["rules"], ",")
    head += "%10s" % ("%s/%s" % (scale["to"], scale["from"])
                      if scale else "")
    print(head)
    last = scale.get("ratio", {})
    for sc in rows:
        line = "%-20s" % sc
        for d in dp:
            ns = d.get("ns")
            if not ns or ns.get(sc) is None:
                line += "%20s" % "-"
            elif sc.startswith("floor"):
                line += "%20s" % fmt(ns[sc])
            else:
                line += "%20s" % cell(d, sc)
        line += "%10s" % fmt(last.get(sc), "%.2f")
        print(line)
    line = "%-20s" % "apply (s)"
    for d in dp:
        line += "%20s" % fmt(d.get("apply", {}).get("median_s"), "%.3f")
    print(line)
    line = "%-20s" % "kernel memory (MB)"
    for d in dp:
        km = d.get("kernel_memory")
        line += "%20s" % (fmt(km["bytes"] / 1e6, "%.2f") if km else "-")
    print(line)
    line = "%-20s" % "bytes/rule (added)"
    for d in dp:
        line += "%20s" % fmt(d.get("bytes_per_rule_added"), "%.0f")
    print(line)
    for d in dp:
        if "error" in d:
            print("  %s %s: %s" % (format(d["rules"], ","), what,
                                   d["error"]))


def table_provision(pv, s):
    print()
    print("Provision, as an OpenZiti router drives it: one process a change "
          "(map_update,")
    print("or splicer for add/del/apply); ms spawn to exit, rules before -> "
          "after:")
    print("%-36s%9s%9s%9s%9s  %s" % ("", "median", "p90", "max", "total s",
                                     "rules"))
    cp = format(s["cp_rules"], ",")
    rows = (
        ("router_insert_from_empty", "%d inserts, empty set" % s["prov_n"]),
        ("router_delete_to_empty", "%d deletes of them" % s["prov_n"]),
        ("router_insert_with_cp_rules", "%d inserts, %s rules" % (
            s["prov_k"], cp)),
        ("router_delete_with_cp_rules", "%d deletes of them" % s["prov_k"]),
        ("broad_add", "add 10.0.0.0/8 1-65535 over %s" %
         format(s["prov_nested"], ",")),
        ("broad_del", "del 10.0.0.0/8 1-65535"),
        ("apply_empty", "apply %s rules, empty set" % cp),
        ("apply_replace", "apply %s over another %s" % (cp, cp)))
    for key, what in rows:
        c = pv.get(key)
        if not c:
            continue
        if "median_s" not in c:
            print("  %-34s %s" % (what, "failed: " + c["error"]
                                  if c.get("error") else "none run"))
            continue
        many = c["runs"] > 1
        print("  %-34s%9.2f%9s%9s%9s  %s -> %s" % (
            what, c["median_s"] * 1e3,
            fmt(c["p90_s"] * 1e3 if many else None, "%.2f"),
            fmt(c["max_s"] * 1e3 if many else None, "%.2f"),
            fmt(c["total_s"] if many else None, "%.2f"),
            c.get("rules_before"), c.get("rules_after")))
        if c.get("failed"):
            print("    %d of %d failed: %s" % (c["failed"], c["runs"],
                                               c.get("error", "")))


def main():
    if len(sys.argv) < 2:
        sys.exit(__doc__)
    cmd, args = sys.argv[1], sys.argv[2:]
    if cmd == "no-match" and len(args) == 2:
        print(no_match(*args))
    elif cmd == "kernel-memory" and len(args) == 1:
        print(json.dumps(kernel_memory(args[0])))
    elif cmd == "timed" and len(args) >= 2:
        print(json.dumps(timed(timed_argvs(args))))
    elif cmd == "ktime-bytes" and not args:
        now = time.clock_gettime_ns(time.CLOCK_MONOTONIC)
        print(" ".join("0x%02x" % b for b in now.to_bytes(8, "little")))
    elif cmd == "report" and len(args) == 2:
        report(*args)
    elif cmd == "table" and len(args) == 1:
        table(args[0])
    else:
        sys.exit(__doc__)


if __name__ == "__main__":
    main()
