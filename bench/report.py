#!/usr/bin/env python3
"""Generates docs/performance.md (and its SVG plot) from a bench/run-all.sh result folder.

usage: bench/report.py RESULT_DIR [--out FILE]

RESULT_DIR holds meta.txt, compare.csv (compare.sh's CSV; its `median` rows are used),
fixed_rate.csv and idle_mem.csv. The plot is written next to FILE as
performance-plot.svg (hand-written SVG: no plotting library needed). If criterion
results exist under bench/micro/target/criterion, a micro-benchmark table is added.
Standard library only.
"""
import csv
import json
import os
import sys
from html import escape

SCENARIO_TEXT = {
    "plaintext": "GET /plaintext, 64 connections",
    "pipelined": "GET /plaintext, 256 connections, 16 pipelined per write",
    "json": "GET /json, 64 connections",
    "c1000": "GET /plaintext, 1000 connections",
}
COLORS = ["#d62728", "#1f77b4", "#ff7f0e", "#2ca02c", "#9467bd", "#8c564b", "#7f7f7f", "#17becf"]


def read_meta(path):
    meta = {}
    with open(path) as f:
        for line in f:
            if "=" in line:
                k, v = line.rstrip("\n").split("=", 1)
                meta[k] = v
    return meta


def read_csv(path):
    if not os.path.exists(path):
        return []
    with open(path) as f:
        return list(csv.DictReader(f))


def num(v):
    try:
        return float(v)
    except (TypeError, ValueError):
        return None


def fmt_int(v):
    return "n/a" if v is None else f"{v:,.0f}"


def fmt_ratio(v, base):
    if v is None or not base:
        return "n/a"
    return f"{v / base:.2f}"


def svg_plot(panels, path):
    """panels: [(title, unit, [(server, value or None)])] -> horizontal bar charts."""
    cols, pw, row_h, top, gap = 3, 330, 18, 34, 24
    label_w, value_w = 95, 70
    servers = []
    for _, _, rows in panels:
        for s, _ in rows:
            if s not in servers:
                servers.append(s)
    color = {s: COLORS[i % len(COLORS)] for i, s in enumerate(servers)}
    ph = top + row_h * len(servers) + 12
    nrows = (len(panels) + cols - 1) // cols
    width, height = cols * pw + (cols + 1) * gap, nrows * (ph + gap) + gap + 20
    out = [f'<svg xmlns="http://www.w3.org/2000/svg" width="{width}" height="{height}" '
           f'viewBox="0 0 {width} {height}" font-family="sans-serif" font-size="11">',
           f'<rect width="{width}" height="{height}" fill="white"/>',
           f'<text x="{gap}" y="18" font-size="13" font-weight="bold">peregrine and peers: one server core '
           f'(CPU 0), load generator on CPU 1</text>']
    for i, (title, unit, rows) in enumerate(panels):
        x0 = gap + (i % cols) * (pw + gap)
        y0 = 30 + (i // cols) * (ph + gap)
        out.append(f'<rect x="{x0}" y="{y0}" width="{pw}" height="{ph}" fill="#fafafa" stroke="#ccc"/>')
        out.append(f'<text x="{x0 + 6}" y="{y0 + 16}" font-weight="bold">{escape(title)}</text>')
        out.append(f'<text x="{x0 + pw - 6}" y="{y0 + 16}" text-anchor="end" fill="#555">{escape(unit)}</text>')
        vals = [v for _, v in rows if v is not None]
        vmax = max(vals) if vals else 1
        bar_w = pw - label_w - value_w - 12
        for j, (s, v) in enumerate(rows):
            y = y0 + top + j * row_h
            out.append(f'<text x="{x0 + label_w}" y="{y + 12}" text-anchor="end">{escape(s)}</text>')
            if v is None:
                out.append(f'<text x="{x0 + label_w + 6}" y="{y + 12}" fill="#888">n/a</text>')
                continue
            w = max(1.0, bar_w * v / vmax) if vmax else 1.0
            out.append(f'<rect x="{x0 + label_w + 4}" y="{y + 3}" width="{w:.1f}" height="{row_h - 6}" '
                       f'fill="{color[s]}"/>')
            label = f"{v:,.0f}" if v >= 10 or v == 0 else f"{v:.2f}"
            out.append(f'<text x="{x0 + label_w + 8 + w:.1f}" y="{y + 12}">{label}</text>')
    out.append("</svg>")
    with open(path, "w") as f:
        f.write("\n".join(out) + "\n")


def micro_table(root):
    """Criterion's latest estimates (bench/micro/target/criterion/*/*/new/), if any."""
    base = os.path.join(root, "bench/micro/target/criterion")
    rows = []
    if not os.path.isdir(base):
        return rows
    for group in sorted(os.listdir(base)):
        gdir = os.path.join(base, group)
        if not os.path.isdir(gdir) or group == "report":
            continue
        for bench in sorted(os.listdir(gdir)):
            est = os.path.join(gdir, bench, "new", "estimates.json")
            meta = os.path.join(gdir, bench, "new", "benchmark.json")
            if not os.path.exists(est):
                continue
            with open(est) as f:
                e = json.load(f)
            with open(meta) as f:
                m = json.load(f)
            ns = e["mean"]["point_estimate"]
            lo = e["mean"]["confidence_interval"]["lower_bound"]
            hi = e["mean"]["confidence_interval"]["upper_bound"]
            thr = m.get("throughput") or {}
            extra = ""
            if "Bytes" in thr:
                extra = f"{thr['Bytes'] / ns:.2f} GB/s"  # bytes per ns = GB/s
                if group == "body":
                    extra += " (framing only: the decoder returns spans, it copies nothing)"
            elif "Elements" in thr:
                extra = f"{ns / thr['Elements']:.0f} ns per request"
            rows.append((m.get("full_id", f"{group}/{bench}"), ns, lo, hi, extra))
    return rows


def append_file(lines, path, missing, fence=None):
    """Appends the file at `path` (in a code block when `fence` names its language), or the
    line `missing` where there is no such file, then a blank line."""
    if os.path.exists(path):
        with open(path) as f:
            text = f.read().rstrip("\n")
        lines.extend([f"```{fence}", text, "```"] if fence else [text])
    else:
        lines.append(missing)
    lines.append("")


def main():
    args = sys.argv[1:]
    if not args:
        sys.exit(__doc__)
    res = args[0]
    out_path = "docs/performance.md"
    if "--out" in args:
        out_path = args[args.index("--out") + 1]
    root = os.path.abspath(os.path.join(os.path.dirname(__file__), ".."))
    meta = read_meta(os.path.join(res, "meta.txt"))
    servers = meta.get("servers", "").split(",")
    scenarios = meta.get("scenarios", "").split(",")
    med = {(r["server"], r["scenario"]): r for r in read_csv(os.path.join(res, "compare.csv"))
           if r["round"] == "median"}
    fixed = {r["server"]: r for r in read_csv(os.path.join(res, "fixed_rate.csv"))}
    idle = {r["server"]: r for r in read_csv(os.path.join(res, "idle_mem.csv"))}
    rel_res = os.path.relpath(os.path.abspath(res), root)
    plot_name = "performance-plot.svg"
    plot_path = os.path.join(os.path.dirname(os.path.abspath(out_path)), plot_name)

    L = []
    L.append("# Performance")
    L.append("")
    L.append("<!-- Generated by bench/report.py from " + rel_res + "; do not edit by hand: "
             "rerun `bench/run-all.sh` (the reading at the end is bench/performance-notes.md). -->")
    L.append("")
    L.append("peregrine against other HTTP/1.1 servers **on one core**: every server is pinned to "
             "CPU 0 and the load generator to CPU 1 of a 2-core machine, one after another, "
             "under the same load. Regenerate everything (build, runs, this page, the plot) with:")
    L.append("")
    L.append("```sh")
    L.append("bench/run-all.sh            # full: " + "3 rounds x 10 s, about 20 minutes")
    L.append("bench/run-all.sh --quick    # smoke: 3 s runs, 1 round, 2 scenarios; report under bench/results/")
    L.append("```")
    L.append("")
    rounds = meta.get("rounds", "?")
    L.append(f"**This run:** `{meta.get('invocation', 'bench/run-all.sh').strip()}` on {meta.get('date', '?')}, "
             f"{rounds} round(s) x {meta.get('duration', '?')} s per scenario"
             + (" (median over rounds)" if rounds != "1" else " (**one round only: no medians, treat as rough**)")
             + ".")
    L.append("")
    L.append("## Machine and versions")
    L.append("")
    L.append(f"- machine: {meta.get('cpus', '?')} vCPUs, {meta.get('cpu', '?')}, {meta.get('mem', '?')} RAM "
             f"(a VM); kernel `{meta.get('kernel', '?')}`")
    L.append(f"- {meta.get('rustc', 'rustc ?')}; every Rust server built with `--release` "
             "(fat LTO, `codegen-units = 1`)")
    L.append(f"- load generators: {meta.get('wrk', 'wrk ?')} (closed loop, `-t1`), "
             f"{meta.get('peregrine_load') or 'peregrine-load: not available in this run'} (open loop)")
    L.append(f"- peregrine {meta.get('peregrine', '?')}")
    for s, key in [("hyper", "hyper"), ("actix", "actix"), ("may_minihttp", "may_minihttp"),
                   ("monoio", "monoio"), ("tokio-uring", "tokio-uring"), ("ceiling", "ceiling")]:
        if s in servers:
            L.append(f"- {s} peer: {meta.get(key, '?')}")
    if "nginx" in servers:
        L.append(f"- nginx: {meta.get('nginx', '?')} (Debian package), `master_process off` (one process), "
                 "`access_log off`, `keepalive_requests` unlimited ([config](../bench/nginx/nginx.conf.in))")
    L.append("")
    L.append("## Commands")
    L.append("")
    L.append("Servers (`{port}` filled in by the script; each runs under `taskset -c 0`):")
    L.append("")
    L.append("| server | command |")
    L.append("|---|---|")
    for s in servers:
        L.append(f"| {s} | `{meta.get('cmd.' + s, '?')}` |")
    L.append("")
    L.append("Load (each under `taskset -c 1`; `URL` = `http://127.0.0.1:PORT/plaintext` or `/json`):")
    L.append("")
    L.append("| scenario | command |")
    L.append("|---|---|")
    d = meta.get("duration", "10")
    cmds = {
        "plaintext": f"wrk -t1 -c64 -d{d}s --timeout 5s --latency URL",
        "pipelined": f"wrk -t1 -c256 -d{d}s --timeout 5s --latency URL -s bench/pipeline.lua --",
        "json": f"wrk -t1 -c64 -d{d}s --timeout 5s --latency URL",
        "c1000": f"wrk -t1 -c1000 -d{d}s --timeout 5s --latency URL",
    }
    for sc in scenarios:
        L.append(f"| {sc} ({SCENARIO_TEXT.get(sc, '')}) | `{cmds.get(sc, '?')}` |")
    if meta.get("fixed_rate_cmd"):
        L.append(f"| fixed rate (open loop) | `{meta['fixed_rate_cmd']}` |")
    L.append(f"| idle memory | `{meta.get('idle_mem_cmd', '?')}` |")
    L.append("")
    L.append("The whole sequence is `" + meta.get("compare_cmd", "bench/compare.sh") +
             "`, then the fixed-rate and idle-memory runs; see [bench/README.md](../bench/README.md).")
    L.append("")

    L.append("## Closed loop (wrk)")
    L.append("")
    L.append("Ratios are *server / peregrine*: **req/s ratio above 1 = faster than peregrine; "
             "CPU ratio above 1 = needs more CPU per request than peregrine.** "
             "CPU µs/req is the server process's user+system time divided by the requests served "
             "(the column to compare when wrk, not the server, sets the rate). "
             "wrk CPU1 near 100% means the load generator was the bottleneck.")
    L.append("")
    for sc in scenarios:
        L.append(f"### {sc}: {SCENARIO_TEXT.get(sc, '')}")
        L.append("")
        L.append("| server | req/s | req/s ratio | p50 (µs) | p99 (µs) | CPU µs/req | CPU ratio | server CPU % | wrk CPU1 % | errors |")
        L.append("|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|")
        base = med.get(("peregrine", sc))
        b_rps = num(base["req_per_s"]) if base else None
        b_cpu = num(base["cpu_us_per_req"]) if base else None
        for s in servers:
            r = med.get((s, sc))
            if not r:
                L.append(f"| {s} | did not run | | | | | | | | |")
                continue
            rps, cpu = num(r["req_per_s"]), num(r["cpu_us_per_req"])
            errs = sum(int(num(r[k]) or 0) for k in
                       ("non_2xx_3xx", "err_connect", "err_read", "err_write", "err_timeout"))
            name = f"**{s}**" if s.startswith("peregrine") else s
            if s == "ceiling" and sc == "json":
                name += " (answers plaintext)"
            L.append(f"| {name} | {fmt_int(rps)} | {fmt_ratio(rps, b_rps)} | {r['p50_us'] or 'n/a'} | "
                     f"{r['p99_us'] or 'n/a'} | {cpu:.2f} | {fmt_ratio(cpu, b_cpu)} | "
                     f"{num(r['server_cpu_pct']):.0f} | {num(r['cpu1_busy_pct']):.0f} | {errs} |")
        L.append("")
    if "pipelined" in scenarios:
        L.append("Pipelined latencies are n/a: wrk's latency histogram is wrong with pipelining.")
        L.append("")

    L.append("## Fixed rate, open loop (latency at a given load)")
    L.append("")
    if fixed:
        rate = meta.get("rate", "?")
        L.append(f"`peregrine-load` sends {int(rate):,} req/s of `GET /plaintext` on 64 connections on a "
                 "fixed schedule; latency is measured from each request's *intended* send time "
                 "(coordinated-omission corrected), so a server that falls behind shows it in "
                 "the tail. CPU µs/req here is the server's CPU at the same offered load.")
        L.append("")
        L.append("| server | achieved req/s | p50 (µs) | p90 (µs) | p99 (µs) | p99.9 (µs) | max (µs) | p99 ratio | server CPU % | CPU µs/req | CPU ratio | errors |")
        L.append("|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|")
        b = fixed.get("peregrine")
        for s in servers:
            r = fixed.get(s)
            if not r:
                L.append(f"| {s} | did not run | | | | | | | | | | |")
                continue
            name = f"**{s}**" if s.startswith("peregrine") else s
            L.append(f"| {name} | {fmt_int(num(r['req_per_s']))} | {r['p50_us']} | {r['p90_us']} | {r['p99_us']} | "
                     f"{r['p999_us']} | {r['max_us']} | {fmt_ratio(num(r['p99_us']), num(b['p99_us']) if b else None)} | "
                     f"{num(r['server_cpu_pct']):.0f} | {num(r['cpu_us_per_req']):.2f} | "
                     f"{fmt_ratio(num(r['cpu_us_per_req']), num(b['cpu_us_per_req']) if b else None)} | {r['errors']} |")
    else:
        L.append("**Not measured in this run**: `peregrine-load` (the open-loop load generator, "
                 "`loadtest/`) was not built, and wrk2 is not packaged in this Debian. "
                 "`bench/run-all.sh` runs this section as soon as `cargo build --release -p "
                 "peregrine-load` succeeds.")
    L.append("")

    L.append("## Memory per idle connection")
    L.append("")
    if idle:
        L.append("Each server is started fresh; after 10 warm-up requests its RSS (`VmRSS`) is read, then a "
                 "separate process opens the connections (batches of 200), sends one `GET /plaintext` on "
                 "each, reads the answer, and leaves them idle in keep-alive; one second later the RSS is "
                 "read again. *alive* = connections that still answered a second request afterwards. "
                 "User-space memory only: kernel socket buffers are not in RSS and are the same for all.")
        L.append("")
        L.append("| server | connections | alive | RSS before (KiB) | RSS after (KiB) | bytes per connection | ratio |")
        L.append("|---|---:|---:|---:|---:|---:|---:|")
        b = idle.get("peregrine")
        for s in servers:
            r = idle.get(s)
            if not r:
                L.append(f"| {s} | did not run | | | | | |")
                continue
            name = f"**{s}**" if s.startswith("peregrine") else s
            L.append(f"| {name} | {int(r['conns']):,} | {int(r['alive']):,} | {int(r['rss_before_kib']):,} | "
                     f"{int(r['rss_after_kib']):,} | {int(num(r['bytes_per_conn'])):,} | "
                     f"{fmt_ratio(num(r['bytes_per_conn']), num(b['bytes_per_conn']) if b else None)} |")
    else:
        L.append("Not measured in this run.")
    L.append("")

    panels = []
    for sc in scenarios:
        panels.append((f"{sc}: req/s", "higher is better",
                       [(s, num(med[(s, sc)]["req_per_s"]) if (s, sc) in med else None) for s in servers]))
    for sc in scenarios:
        if sc == "pipelined":
            continue
        panels.append((f"{sc}: p99 latency", "µs, lower is better",
                       [(s, num(med[(s, sc)]["p99_us"]) if (s, sc) in med else None) for s in servers]))
    if fixed:
        panels.append((f"fixed {int(meta.get('rate', '0')):,} req/s: p99", "µs, lower is better",
                       [(s, num(fixed[s]["p99_us"]) if s in fixed else None) for s in servers]))
    for sc in scenarios:
        panels.append((f"{sc}: CPU per request", "µs, lower is better",
                       [(s, num(med[(s, sc)]["cpu_us_per_req"]) if (s, sc) in med else None) for s in servers]))
    if idle:
        panels.append(("idle memory per connection", "bytes, lower is better",
                       [(s, num(idle[s]["bytes_per_conn"]) if s in idle else None) for s in servers]))
    svg_plot(panels, plot_path)
    L.append("## Plot")
    L.append("")
    L.append(f"![req/s, p99 latency, CPU per request and idle memory per server]({plot_name})")
    L.append("")

    micro = micro_table(root)
    L.append("## Micro-benchmarks (criterion)")
    L.append("")
    L.append("`cd bench/micro && cargo bench` (crate `peregrine-micro`, criterion 0.5): peregrine's "
             "sans-I/O HTTP/1.1 core without sockets, storage reused as on a connection. "
             "Figures from the last `cargo bench` on this machine (mean, 95% interval):")
    L.append("")
    if micro:
        L.append("| benchmark | mean | 95% interval | throughput |")
        L.append("|---|---:|---:|---:|")
        for name, ns, lo, hi, extra in micro:
            L.append(f"| `{name}` | {ns:,.1f} ns | {lo:,.1f}–{hi:,.1f} ns | {extra} |")
    else:
        L.append("(no criterion results found under `bench/micro/target/criterion`)")
    L.append("")

    sys_path = os.path.join(res, "syscalls.md")
    L.append("## System calls per request")
    L.append("")
    L.append("`bench/syscalls.py`: each server alone (one worker on CPU 0, wrk on CPU 1), its system "
             "calls counted by `perf stat` on the kernel's syscall-entry tracepoints (no ptrace: "
             "the server batches as it would unobserved) and divided by wrk's requests. `one` is a "
             "single connection, one request at a time; the other scenarios are the closed-loop ones "
             "above.")
    L.append("")
    append_file(L, sys_path, "(not measured in this run: perf missing)")

    instr_path = os.path.join(res, "instructions.txt")
    L.append("## Instructions per request (callgrind)")
    L.append("")
    L.append("`bench/instructions.sh --breakdown`: user-space instructions per request on the layers "
             "every engine shares (parser, protocol object, features, demo application, encoder), "
             "driven in memory through `peregrine::testing::serve_bytes`; valgrind counts them, so "
             "the figure is the same on every run whatever the machine is doing. CI fails when a "
             "scenario grows more than 5% over `bench/instructions-baseline.txt`. The engines' own "
             "work (the ring or epoll, the kernel) is not in these counts: it is in the CPU time "
             "per request above.")
    L.append("")
    append_file(L, instr_path, "(not measured in this run: valgrind missing)", fence="text")

    notes_path = os.path.join(root, "bench/performance-notes.md")
    if os.path.exists(notes_path):
        with open(notes_path) as f:
            L.append(f.read().rstrip("\n"))
        L.append("")

    os.makedirs(os.path.dirname(os.path.abspath(out_path)), exist_ok=True)
    with open(out_path, "w") as f:
        f.write("\n".join(L))
    print(f"wrote {out_path} and {plot_path}", file=sys.stderr)


if __name__ == "__main__":
    main()
