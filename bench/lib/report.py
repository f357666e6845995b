#!/usr/bin/env python3
"""bench/run's arithmetic and reporting (stdlib only).

  report.py line LABEL OHA_JSON     one summary line of an oha run
  report.py rps OHA_JSON            2xx answers per second of an oha run
  report.py stime START END OUT...  the connections of parallel `openssl s_time`
                                    runs as JSON (START, END: epoch seconds)
  report.py report MANIFEST STEM    STEM.md (also printed), STEM.json, STEM.png
  report.py steady OHA_DB SECONDS   p50,p99,p99.9 (ms, latency-corrected) of the
                                    requests of an oha --db-url run scheduled
                                    after its first SECONDS

The manifest is tab-separated: `meta KEY VALUE`, `run LABEL OHA_JSON`,
`stime LABEL JSON`, `rss LABEL HOUSEHOLDS KB`, `cpu LABEL SERVER_CPU_SECONDS`.
"""
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile

# oha cancels the requests in flight when the duration ends and counts them
# as errors; they say nothing about the server.
DEADLINE_ERRORS = ("aborted due to deadline",)

WHAT = {
    "pmt": "GET /v1/pmt/{cnic}, keep-alive",
    "nginx.pmt": "nginx, static answer of the same size, keep-alive",
    "handshake": "GET /v1/pmt/{cnic}, a new mTLS connection per request",
    "nginx.handshake": "nginx, a new mTLS connection per request",
    "full-handshake": "GET /v1/pmt/{cnic}, full mTLS handshake per request (openssl s_time -new)",
    "nginx.full-handshake": "nginx, full mTLS handshake per request (openssl s_time -new)",
    "pmt-half": "GET /v1/pmt/{cnic} at half the maximum rate, latency-corrected",
    "nginx.pmt-half": "nginx at the same rate, latency-corrected",
    "household": "GET /v1/households/by-cnic/{cnic}, Standard user, bearer token",
    "pos": "POST /v1/pos/transactions, 100 sales a batch, distinct batches (first writes)",
    "pos-replay": "POST /v1/pos/transactions, the same 100-sale batch again (replays)",
}


def load(path):
    with open(path) as f:
        return json.load(f)


def stats(d):
    """The figures of one oha run (or s_time summary); times in ms."""
    if "s_time" in d:
        t = d["s_time"]
        return {"rps": t["connections"] / t["seconds"] if t["seconds"] else 0.0, "rps_oha": None,
                "ok": t["connections"], "aborted_at_deadline": 0, "other_statuses": {}, "errors": t["errors"],
                "p50": None, "p99": None, "p999": None, "seconds": t["seconds"],
                "bytes_per_answer": t["bytes_per_connection"]}
    s = d["summary"]
    codes = {int(k): v for k, v in (d.get("statusCodeDistribution") or {}).items()}
    ok = sum(v for k, v in codes.items() if 200 <= k < 300)
    errors = {k: v for k, v in (d.get("errorDistribution") or {}).items()
              if not any(e in k for e in DEADLINE_ERRORS)}
    aborted = sum(v for k, v in (d.get("errorDistribution") or {}).items()
                  if any(e in k for e in DEADLINE_ERRORS))
    total = s.get("total") or 0
    pct = d.get("latencyPercentiles") or {}

    def ms(key):
        v = pct.get(key)
        return None if v is None else v * 1000

    return {
        "rps": ok / total if total else 0.0,
        "rps_oha": s.get("requestsPerSec"),
        "ok": ok,
        "aborted_at_deadline": aborted,
        "other_statuses": {k: v for k, v in codes.items() if not 200 <= k < 300},
        "errors": errors,
        "p50": ms("p50"), "p99": ms("p99"), "p999": ms("p99.9"),
        "seconds": total,
        "bytes_per_answer": s.get("sizePerRequest"),
    }


def fmt_ms(v):
    return "—" if v is None else (f"{v:.2f}" if v < 10 else f"{v:.1f}")


def fmt_int(v):
    return "—" if v is None else f"{v:,.0f}"


def fmt_cpu(st):
    """Server CPU per 2xx answer and cores busy on average."""
    c = st.get("server_cpu_seconds")
    if c is None or not st["ok"] or not st["seconds"]:
        return "—"
    return f"{c / st['ok'] * 1e6:,.0f} µs/answer, {c / st['seconds']:.2f} cores"


def notes_of(st):
    out = []
    if st["other_statuses"]:
        out.append("statuses " + ", ".join(f"{k}×{v}" for k, v in sorted(st["other_statuses"].items())))
    if st["errors"]:
        out.append("errors " + "; ".join(f"{k} ×{v}" for k, v in st["errors"].items()))
    return "; ".join(out)


def cmd_line(label, path):
    st = stats(load(path))
    note = notes_of(st)
    print(f"{label:>28}: {st['rps']:,.0f} req/s, p50 {fmt_ms(st['p50'])} ms, p99 {fmt_ms(st['p99'])} ms, "
          f"p99.9 {fmt_ms(st['p999'])} ms" + (f" [{note}]" if note else ""))


def cmd_stime(start, end, outs):
    connections, bytes_read, errors = 0, 0, {}
    for path in outs:
        text = open(path, errors="replace").read()
        m = re.search(r"(\d+) connections in \d+ real seconds, (\d+) bytes read per connection", text)
        if m:
            connections += int(m[1])
            bytes_read += int(m[1]) * int(m[2])
        else:
            errors["s_time gave no count"] = errors.get("s_time gave no count", 0) + 1
        for line in text.splitlines():
            if "error" in line.lower():
                errors[line.strip()[:120]] = errors.get(line.strip()[:120], 0) + 1
    json.dump({"s_time": {"connections": connections, "seconds": float(end) - float(start),
                          "processes": len(outs), "errors": errors,
                          "bytes_per_connection": bytes_read / connections if connections else None}},
              sys.stdout)


def read_manifest(path):
    meta, runs, rss, cpu = {}, {}, {}, {}
    with open(path) as f:
        for line in f:
            parts = line.rstrip("\n").split("\t")
            if parts[0] == "meta":
                meta[parts[1]] = parts[2] if len(parts) > 2 else ""
            elif parts[0] in ("run", "stime"):
                runs[parts[1]] = load(parts[2])
            elif parts[0] == "rss" and parts[3]:
                rss[parts[1]] = (int(parts[2]), int(parts[3]))
            elif parts[0] == "cpu":
                cpu[parts[1]] = float(parts[2])
    return meta, runs, rss, cpu


def mb(kb):
    return kb * 1024 / 1e6


def steady_of(meta, key):
    """p50, p99, p99.9 (ms) after a run's first second, as `steady` wrote them; None if absent."""
    parts = meta.get(key, "").split(",")
    return tuple(float(x) for x in parts) if len(parts) == 3 else None


def targets(meta, st, rss, backends, scale):
    rows = []

    def verdict(ok):
        return "n/a" if ok is None else ("**PASS**" if ok else "**FAIL**")

    for be in backends:
        ours, ng = st.get(f"{be}.pmt"), st.get(f"{be}.nginx.pmt")
        if ours and ng and ng["rps"]:
            r = ours["rps"] / ng["rps"]
            rows.append((be, "hot path >= 50 % of nginx req/s",
                         f"{ours['rps']:,.0f} / {ng['rps']:,.0f} = {r * 100:.1f} %", verdict(r >= 0.5)))
        half = st.get(f"{be}.pmt-half")
        if half:
            rate = meta.get(f"{be}.half_rate", "?")
            achieved = f" (asked {int(rate):,} req/s, got {half['rps']:,.0f})" if rate.isdigit() else ""
            rows.append((be, "p99 < 5 ms at half the maximum rate",
                         f"{fmt_ms(half['p99'])} ms{achieved}", verdict(half["p99"] is not None and half["p99"] < 5)))
            rows.append((be, "p99.9 < 20 ms at half the maximum rate",
                         f"{fmt_ms(half['p999'])} ms", verdict(half["p999"] is not None and half["p999"] < 20)))
            steady = steady_of(meta, f"{be}.half_steady")
            if steady:
                p50, p99, p999 = steady
                rows.append((be, "(info) the same after the run's first second (its connections' handshakes)",
                             f"p50 {fmt_ms(p50)}, p99 {fmt_ms(p99)}, p99.9 {fmt_ms(p999)} ms",
                             "info: " + ("PASS" if p99 < 5 and p999 < 20 else "FAIL")))
        ng_half = st.get(f"{be}.nginx.pmt-half")
        if ng_half:
            # The ceiling under the same yardstick: whole run, then steady.
            measured = f"p99 {fmt_ms(ng_half['p99'])}, p99.9 {fmt_ms(ng_half['p999'])} ms"
            steady = steady_of(meta, f"{be}.nginx_half_steady")
            if steady:
                measured += f"; after the first second p99 {fmt_ms(steady[1])}, p99.9 {fmt_ms(steady[2])} ms"
            ok = ng_half["p99"] is not None and ng_half["p99"] < 5 and ng_half["p999"] is not None and ng_half["p999"] < 20
            rows.append((be, "(info) nginx at the same rate, the same targets (whole run)", measured,
                         "info: " + ("PASS" if ok else "FAIL")))
        hs, nhs = st.get(f"{be}.full-handshake"), st.get(f"{be}.nginx.full-handshake")
        if hs and nhs and nhs["rps"]:
            r = hs["rps"] / nhs["rps"]
            rows.append((be, "full mTLS handshakes >= 80 % of nginx (openssl s_time -new)",
                         f"{hs['rps']:,.0f} / {nhs['rps']:,.0f} per s = {r * 100:.1f} %", verdict(r >= 0.8)))
        hs, nhs = st.get(f"{be}.handshake"), st.get(f"{be}.nginx.handshake")
        if hs and nhs and nhs["rps"]:
            r = hs["rps"] / nhs["rps"]
            resumed = meta.get(f"{be}.nginx_handshake_resumed", "?")
            rows.append((be, "(info) new connections/s >= 80 % of nginx, oha --disable-keepalive",
                         f"{hs['rps']:,.0f} / {nhs['rps']:,.0f} per s = {r * 100:.1f} % "
                         f"(nginx saw {resumed} sessions resumed)", "info: " + verdict(r >= 0.8).strip("*")))
        if be == "sqlite" and len(scale) >= 2:
            lo, hi = scale[0], scale[-1]
            a, b = st.get(f"scale.{lo}"), st.get(f"scale.{hi}")
            if a and b and a["p50"]:
                r = b["p50"] / a["p50"]
                rows.append((be, f"p50 at {hi:,} <= 1.2 x p50 at {lo:,}",
                             f"{fmt_ms(b['p50'])} / {fmt_ms(a['p50'])} ms = {r:.2f} x", verdict(r <= 1.2)))
        # Peak RSS at 1M: the whole suite's peak if it ran at 1M, else the scale run's.
        at_1m = rss.get(be) if rss.get(be, (0,))[0] == 1_000_000 else None
        what = "whole suite"
        if at_1m is None and be == "sqlite" and "scale.1000000" in rss:
            at_1m, what = rss["scale.1000000"], "hot path only"
        if at_1m:
            rows.append((be, "server RSS < 300 MB at 1,000,000 households",
                         f"{mb(at_1m[1]):,.0f} MB (peak, {what})", verdict(mb(at_1m[1]) < 300)))
        else:
            rows.append((be, "server RSS < 300 MB at 1,000,000 households",
                         "not measured (no 1M run)", "n/a"))
    return rows


def short(n):
    for div, suffix in ((1_000_000, "M"), (1_000, "k")):
        if n >= div and n % div == 0:
            return f"{n // div}{suffix}"
    return f"{n:,}"


def plot(stem, points):
    """req/s and p50 against registry size, log x; skipped without gnuplot."""
    gnuplot = shutil.which("gnuplot")
    if not gnuplot or len(points) < 2:
        return False
    terms = subprocess.run([gnuplot, "-e", "set terminal"], capture_output=True, text=True)
    term = "pngcairo size 900,540 font ',11'" if "pngcairo" in (terms.stdout + terms.stderr) else "png size 900,540"
    with tempfile.NamedTemporaryFile("w", suffix=".dat", delete=False) as f:
        for n, rps, p50 in points:
            f.write(f"{n} {rps} {p50}\n")
        data = f.name
    script = f"""
set terminal {term}
set output '{stem}.png'
set title 'GET /v1/pmt/{{cnic}} (SQLite, keep-alive): throughput and median latency by registry size' noenhanced
set logscale x
set xlabel 'households in the registry'
set xtics ({", ".join(f'"{short(n)}" {n}' for n, _, _ in points)})
set xrange [{points[0][0] / 2}:{points[-1][0] * 2}]
set ylabel 'requests/s'
set y2label 'p50 latency (ms)'
set yrange [0:*]
set y2range [0:*]
set ytics nomirror
set y2tics
set grid
set key bottom left
plot '{data}' using 1:2 with linespoints lw 2 pt 7 title 'req/s' axes x1y1, \\
     '{data}' using 1:3 with linespoints lw 2 pt 5 dt 2 title 'p50 (ms)' axes x1y2
"""
    try:
        subprocess.run([gnuplot], input=script, text=True, check=True)
    finally:
        os.unlink(data)
    return True


def cmd_report(manifest, stem):
    meta, runs, rss, cpu = read_manifest(manifest)
    st = {k: stats(v) for k, v in runs.items()}
    for k, v in st.items():
        v["server_cpu_seconds"] = cpu.get(k)
    backends = [b for b in ("sqlite", "postgres") if f"{b}.pmt" in st]
    scale = sorted(int(k.split(".")[1]) for k in st if k.startswith("scale."))
    households = int(meta["households"])
    title = f"# nser-gateway benchmark, {meta['date'][:10]} (commit {meta['commit']})"
    md = [title, ""]
    md += ["| | |", "|---|---|"]
    md.append(f"| date | {meta['date']} |")
    md.append(f"| commit | {meta['commit']} |")
    md.append(f"| machine | {meta['nproc']} × {meta['cpu']}, {meta['memory']} |")
    md.append(f"| load average (1, 5, 15 min) | {meta['loadavg_start']} at the start, {meta['loadavg_end']} at the end |")
    md.append(f"| registry | {households:,} households, seed {meta['seed']}"
              + (", SQLite and PostgreSQL" if "postgres" in backends else ", SQLite") + " |")
    md.append(f"| load | {meta['oha']}, {meta['connections']} connections, {meta['duration']} a run, "
              "mutual TLS, 10,000 random CNICs |")
    md.append(f"| ceiling | {meta['nginx']}, worker_processes auto, static file of "
              f"{meta.get('sqlite.pmt_answer_bytes', '?')} bytes (a real /v1/pmt answer) |")
    if meta.get("quick") == "1":
        md.append("| mode | --quick (smoke check: small registry, short runs, no scale curve) |")
    md.append("")

    md += ["## Targets (issue #7)", "", "| backend | target | measured | result |", "|---|---|---|---|"]
    target_rows = targets(meta, st, rss, backends, scale)
    md += [f"| {a} | {b} | {c} | {d} |" for a, b, c, d in target_rows]
    md.append("")

    md += ["## Runs", "",
           "| backend | run | req/s | p50 ms | p99 ms | p99.9 ms | server CPU | notes |",
           "|---|---|---|---|---|---|---|---|"]
    for be in backends:
        for key in WHAT:
            s = st.get(f"{be}.{key}")
            if not s:
                continue
            note = notes_of(s)
            if key == "pos-replay":
                note = (f"{s['rps'] * 100:,.0f} sales/s, all already stored; " + note).rstrip("; ")
            if key == "pos" and meta.get(f"{be}.pos_stored"):
                stored = int(meta[f"{be}.pos_stored"])
                # Batches oha abandoned at the deadline were still stored.
                sent = (s["ok"] + s["aborted_at_deadline"]) * 100
                share = min(100.0, stored / sent * 100) if sent else 0
                note = (f"{s['rps'] * 100:,.0f} sales/s answered, {stored / s['seconds']:,.0f} sales/s newly stored "
                        f"({share:.0f} % of sales sent were first writes, from "
                        f"{int(meta[f'{be}.pos_bodies']):,} distinct batches); " + note).rstrip("; ")
            if key in ("pmt-half", "nginx.pmt-half"):
                note = (f"asked {int(meta.get(f'{be}.half_rate', 0)):,} req/s; " + note).rstrip("; ")
            if key == "nginx.handshake" and meta.get(f"{be}.nginx_handshake_resumed"):
                note = (f"TLS sessions resumed: {meta[f'{be}.nginx_handshake_resumed']}; " + note).rstrip("; ")
            if key == "nginx.full-handshake" and meta.get(f"{be}.nginx_full_handshake_resumed"):
                note = (f"TLS sessions resumed: {meta[f'{be}.nginx_full_handshake_resumed']}; " + note).rstrip("; ")
            if key.endswith("full-handshake") and s["bytes_per_answer"]:
                note = (f"{s['bytes_per_answer']:.0f} bytes read a connection; " + note).rstrip("; ")
            md.append(f"| {be} | {WHAT[key]} | {fmt_int(s['rps'])} | {fmt_ms(s['p50'])} | "
                      f"{fmt_ms(s['p99'])} | {fmt_ms(s['p999'])} | {fmt_cpu(s)} | {note} |")
        if be in rss:
            md.append(f"| {be} | peak server RSS over the runs above (VmHWM) | | | | | | "
                      f"{mb(rss[be][1]):,.0f} MB |")
    md.append("")

    points = []
    if scale:
        md += ["## Scale curve (SQLite, GET /v1/pmt/{cnic}, keep-alive)", "",
               "| households | req/s | p50 ms | p99 ms | p99.9 ms | server CPU | peak RSS |",
               "|---|---|---|---|---|---|---|"]
        for n in scale:
            s = st[f"scale.{n}"]
            r = rss.get(f"scale.{n}")
            md.append(f"| {n:,} | {fmt_int(s['rps'])} | {fmt_ms(s['p50'])} | {fmt_ms(s['p99'])} | "
                      f"{fmt_ms(s['p999'])} | {fmt_cpu(s)} | {'' if not r else f'{mb(r[1]):,.0f} MB'} |")
            points.append((n, s["rps"], s["p50"]))
        md.append("")
    plotted = plot(stem, points)
    if plotted:
        md += [f"![req/s and p50 by registry size]({os.path.basename(stem)}.png)", ""]
    md.append("Raw oha output of every run: " + f"`{os.path.basename(stem)}.json`.")
    text = "\n".join(md) + "\n"
    with open(stem + ".md", "w") as f:
        f.write(text)
    with open(stem + ".json", "w") as f:
        json.dump({"meta": meta,
                   "targets": [dict(zip(("backend", "target", "measured", "result"), r)) for r in target_rows],
                   "peak_rss_kb": {k: {"households": v[0], "kb": v[1]} for k, v in rss.items()},
                   "summary": st,
                   "oha": runs}, f, indent=1, default=str)
    print(text)


def cmd_steady(db_path, skip):
    """Percentiles without the run's first seconds: oha opens its connections
    (full mTLS handshakes) at the start, and latency correction charges the
    requests scheduled meanwhile with the wait."""
    import sqlite3
    db = sqlite3.connect(db_path)
    t0 = db.execute("select min(start_latency_correction) from oha").fetchone()[0]
    lat = sorted(r[0] * 1000 for r in db.execute(
        "select end - start_latency_correction from oha where start_latency_correction >= ?",
        (t0 + float(skip),)))
    if not lat:
        print("")
        return
    q = lambda p: lat[min(len(lat) - 1, int(p * len(lat)))]
    print(f"{q(0.5):.3f},{q(0.99):.3f},{q(0.999):.3f}")


def main():
    cmd = sys.argv[1] if len(sys.argv) > 1 else ""
    if cmd == "line":
        cmd_line(sys.argv[2], sys.argv[3])
    elif cmd == "rps":
        print(f"{stats(load(sys.argv[2]))['rps']:.1f}")
    elif cmd == "stime":
        cmd_stime(sys.argv[2], sys.argv[3], sys.argv[4:])
    elif cmd == "report":
        cmd_report(sys.argv[2], sys.argv[3])
    elif cmd == "steady":
        cmd_steady(sys.argv[2], sys.argv[3])
    else:
        sys.exit(__doc__)


if __name__ == "__main__":
    main()
