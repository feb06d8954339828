#!/usr/bin/env python3
"""Turns one `make bench` run (hyperfine JSON exports and the floors' timings) into
bench/results.md, bench/results.json and the charts bench/growth.svg and bench/rotate.svg."""
import argparse
import json
import math
import os
import platform
import statistics
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402

GOALS = {
    "rotate_vs_parallel": 0.8,
    "rotate_over_floor_s": 0.5,
    "verify_vs_raw_floor": 1.5,
    "growth_per_10x": 10.5,
    "memory_at_20000_mib": 100,
    "fleet_vs_slowest": 1.2,
    "fleet_vs_separate": 1.15,
    "fleet_memory": 1.5,
    "wave_vs_slowest": 1.3,
    "startup_ms": 10,
}


def load(path):
    return {r["command"]: r for r in json.loads(Path(path).read_text())["results"]}


def summary(times):
    return {"median_s": statistics.median(times), "min_s": min(times), "max_s": max(times), "runs": len(times)}


def summaries(path):
    return {k: summary(v["times"]) for k, v in load(path).items()}


def fmt(s):
    m = s["median_s"] if isinstance(s, dict) else s
    return f"{m * 1000:.0f} ms" if m < 1 else f"{m:.2f} s"


def spread(s):
    return f"{s['min_s'] * 1000:.0f}–{s['max_s'] * 1000:.0f} ms" if s["max_s"] < 1 else f"{s['min_s']:.2f}–{s['max_s']:.2f} s"


def log_axes(ax, xs, xlabel, ylabel, title, logy=True):
    """Axes over measured points only: log x (and y) with the points as ticks, a light grid."""
    ax.set_xscale("log")
    if logy:
        ax.set_yscale("log")
    ax.set_xticks(xs, [f"{x:,}" for x in xs])
    ax.set_xlabel(xlabel)
    ax.set_ylabel(ylabel)
    ax.set_title(title)
    ax.grid(True, which="both", alpha=0.3)
    ax.legend(fontsize=8)


def mem_file(path):
    return {name: int(kb) for name, kb in (line.split() for line in Path(path).read_text().splitlines())}


def verdict(ok):
    return "met" if ok else "**missed**"


def machine():
    cpu = next((l.split(":", 1)[1].strip() for l in Path("/proc/cpuinfo").read_text().splitlines() if l.startswith("model name")), platform.processor())
    mem_kb = next(int(l.split()[1]) for l in Path("/proc/meminfo").read_text().splitlines() if l.startswith("MemTotal"))
    return f"{os.cpu_count()} cores ({cpu}), {mem_kb // 1024 // 1024} GiB, {platform.system()} {platform.release()}"


def floor_lines(path):
    """bench-floor rollouts prints, per run, the seconds to the last rollout complete and to the last old pod gone."""
    return [tuple(float(x) for x in line.split()) for line in Path(path).read_text().splitlines() if line.strip()]


def round_times(folder):
    """Per command, its times in round order, from the folder's round-N.json (hyperfine, one run each)."""
    times = {}
    for f in sorted(folder.glob("round-*.json"), key=lambda f: int(f.stem.split("-")[1])):
        for command, result in load(f).items():
            times.setdefault(command, []).extend(result["times"])
    return times


def rounds(folder):
    """bench/scenario.sh's rotate_rounds: per command its times round by round, and the floor's
    lines; returns the summaries and, per round, rotate's time less the floor's (old pods gone)."""
    times = round_times(folder)
    r = {k: summary(v) for k, v in times.items()}
    floor = floor_lines(folder / "floor.txt")
    gone = [g for _, g in floor]
    r["floor: the rollouts alone"] = summary([c for c, _ in floor])
    r["floor: old pods gone too"] = summary(gone)
    paired = [ours - floor for ours, floor in zip(times["kubectl-secrets rotate"], gone)]
    return r, paired


def rotate_section(out, data, md):
    rows = {}
    for folder in sorted(out.glob("rotate-[0-9]*/"), key=lambda f: int(f.name.split("-")[1])):
        n = int(folder.name.split("-")[1])
        r, paired = rounds(folder)
        r.update(summaries(out / f"rotate-sequential-{n}.json"))
        ours, parallel, sequential, floor = (r[k]["median_s"] for k in ["kubectl-secrets rotate", "kubectl, parallel", "kubectl, sequential", "floor: the rollouts alone"])
        rows[n] = {"results": r, "ratio_to_parallel": ours / parallel, "over_floor_s": statistics.median(paired),
                   "over_floor_by_round_s": paired, "over_rollouts_complete_s": ours - floor, "speedup_vs_sequential": sequential / ours}
    data["rotate"] = rows
    md += ["## 1. `rotate` with N consumers: against kubectl scripts and the rollouts alone", "",
           "Each consumer is a Deployment of 2 replicas whose pods become Ready 1 s after they start (kwok), maxSurge 25 %.",
           "*kubectl, parallel*: `kubectl patch`, one `kubectl rollout restart` of all, then every `kubectl rollout status` at once (bench/kubectl-rotate-parallel.sh).",
           "*kubectl, sequential*: the runbooks' loop, restart + status per Deployment (bench/kubectl-rotate.sh).",
           "*Floor*: the same restarts sent at once by the bench's own program (bench/floor.rs), timed from the first patch by two watches: to the last rollout complete (what `kubectl rollout status` waits for), "
           "and to the last pod that ran before the restart gone. A terminating pod still runs the old values, so rotate, which says which pods still hold them, is done only then: its goal is judged against that floor.",
           "rotate's time includes everything else it does: reading and planning, the backup, the journal, the write, the verification of every pod afterwards.", "",
           "| N | rotate | kubectl, parallel | kubectl, sequential | floor: rollouts complete | floor: old pods gone too | rotate ÷ parallel (goal ≤ 0.8) | rotate − floor, old pods gone (goal ≤ 0.5 s) |",
           "|---|---|---|---|---|---|---|---|"]
    for n, row in rows.items():
        r = row["results"]
        md.append(f"| {n} | {fmt(r['kubectl-secrets rotate'])} | {fmt(r['kubectl, parallel'])} | {fmt(r['kubectl, sequential'])} | {fmt(r['floor: the rollouts alone'])} | {fmt(r['floor: old pods gone too'])} "
                  f"| {row['ratio_to_parallel']:.2f}× ({verdict(row['ratio_to_parallel'] <= GOALS['rotate_vs_parallel'])}) "
                  f"| {row['over_floor_s']:+.2f} s ({verdict(row['over_floor_s'] <= GOALS['rotate_over_floor_s'])}) |")
    md += ["", "Medians of 5 rounds (4 at N ≥ 50; the sequential loop 3 times, once at N ≥ 50). Each round runs rotate, the parallel script and the floor one after the other, "
           "because the bed's rollouts speed up and slow down by seconds from minute to minute; *rotate − floor* is the median of the rounds' differences "
           "(each round's is in results.json, `over_floor_by_round_s`). Spreads are in results.json.", ""]
    upstream = {}
    for folder in sorted(out.glob("upstream-rotate-*/"), key=lambda f: int(f.name.split("-")[2])):
        n = int(folder.name.split("-")[2])
        r, paired = rounds(folder)
        ours, parallel = (r[k]["median_s"] for k in ["kubectl-secrets rotate", "kubectl, parallel"])
        upstream[n] = {"results": r, "ratio_to_parallel": ours / parallel, "over_floor_s": statistics.median(paired), "over_floor_by_round_s": paired}
    if upstream:
        data["rotate_upstream_limits"] = upstream
        md += ["The bed runs kube-controller-manager with 200 requests/s (burst 400) and 10 syncs at a time, ten times the releases' defaults, so that the rollouts are bounded by the 2 cores. "
               "With the defaults (20/s, burst 30, 5 syncs; `CONTROLLER_LIMITS=upstream`, bench/limits.sh), as a kubeadm control plane runs them:", "",
               "| N | rotate | kubectl, parallel | floor: rollouts complete | floor: old pods gone too | rotate ÷ parallel | rotate − floor, old pods gone |", "|---|---|---|---|---|---|---|"]
        for n, row in upstream.items():
            r = row["results"]
            md.append(f"| {n} | {fmt(r['kubectl-secrets rotate'])} | {fmt(r['kubectl, parallel'])} | {fmt(r['floor: the rollouts alone'])} | {fmt(r['floor: old pods gone too'])} | {row['ratio_to_parallel']:.2f}× | {row['over_floor_s']:+.2f} s |")
        md.append("")
    if rows:
        fig, ax = plt.subplots(figsize=(7, 4.2))
        ns = list(rows)
        for key, style in [("kubectl-secrets rotate", "o-"), ("kubectl, parallel", "s--"), ("kubectl, sequential", "^:"), ("floor: the rollouts alone", "x-."), ("floor: old pods gone too", "+-.")]:
            ax.plot(ns, [rows[n]["results"][key]["median_s"] for n in ns], style, label=key)
        log_axes(ax, ns, "consumers (Deployments of 2 pods)", "seconds", "Rotating a Secret read by N Deployments")
        fig.tight_layout()
        fig.savefig(out.parent / "rotate.svg", metadata={"Date": None})
        md += ["![rotate against kubectl and the floor](rotate.svg)", ""]


def eso_section(out, data, md):
    stores = [
        ("eso", "eso.json", "AWS Secrets Manager on moto", "a new version with boto3",
         "rotate writes the new AWS version, moves AWSCURRENT, forces the sync, restarts the consumers together and verifies every pod."),
        ("eso_vault", "eso-vault.json", "HashiCorp Vault KV v2", "`vault kv patch`",
         "rotate writes a new Vault version with check-and-set and its custom_metadata anchor, forces the sync, restarts the consumers together and verifies every pod."),
    ]
    for key, name, store, write, ours_does in stores:
        if not (out / name).exists():
            continue
        r = summaries(out / name)
        ours = next(v for k, v in r.items() if k.startswith("kubectl-secrets"))
        manual = next(v for k, v in r.items() if k.startswith("by hand"))
        data[key] = {"results": r, "speedup_vs_manual": manual["median_s"] / ours["median_s"]}
        md += [f"## 2. An ExternalSecret-owned Secret with 10 consumers ({store})", "",
               f"*By hand* is the runbooks' path: {write}, `kubectl annotate` to force ESO's sync, wait for the Secret to change, restart + status per Deployment (bench/eso-manual.sh).",
               ours_does, "",
               "| command | median | spread |", "|---|---|---|"]
        md += [f"| {k} | {fmt(v)} | {spread(v)} |" for k, v in r.items()]
        md += ["", f"Speed-up over the manual path: **{data[key]['speedup_vs_manual']:.1f}×**.", ""]


def issuer_section(out, data, md):
    if not (out / "issuer.json").exists():
        return
    r = summaries(out / "issuer.json")
    ours = next(v for k, v in r.items() if k.startswith("kubectl-secrets"))
    manual = next(v for k, v in r.items() if k.startswith("by hand"))
    data["issuer"] = {"results": r, "speedup_vs_manual": manual["median_s"] / ours["median_s"]}
    md += ["## 2b. A database password with its issuer (the bed's PostgreSQL) and 10 consumers", "",
           "*By hand* is seed 001's path: `ALTER USER` through the database pod (port-forward), the Secret re-applied, restart + status per Deployment (bench/issuer-manual.sh).",
           "rotate sets the SCRAM verifier at the server first, writes the Secret with its backup, restarts the consumers together and verifies every pod.", "",
           "| command | median | spread |", "|---|---|---|"]
    md += [f"| {k} | {fmt(v)} | {spread(v)} |" for k, v in r.items()]
    md += ["", f"Speed-up over the manual path: **{data['issuer']['speedup_vs_manual']:.1f}×**.", ""]


def growth_section(out, data, md):
    points = {}
    for folder in sorted(out.glob("growth-[0-9]*/"), key=lambda f: int(f.name.split("-")[1])):
        pods = int(folder.name.split("-")[1])
        r = {k: summary(v) for k, v in round_times(folder).items()}
        mem = mem_file(out / f"growth-mem-{pods}.txt")
        points[pods] = {"results": r, "peak_rss_kb": mem,
                        "verify_vs_raw_floor": r["verify -A -o json"]["median_s"] / r["raw floor (the same LISTs)"]["median_s"]}
        if (out / f"kubectl-mem-{pods}.txt").exists():
            points[pods]["peak_rss_kb"].update(mem_file(out / f"kubectl-mem-{pods}.txt"))
    steps = []
    sizes = list(points)
    for a, b in zip(sizes, sizes[1:]):
        for cmd in ["verify -A -o json", "list -A -o json", "raw floor (the same LISTs)"]:
            ratio = points[b]["results"][cmd]["median_s"] / points[a]["results"][cmd]["median_s"]
            per_10x = ratio ** (1 / math.log10(b / a))
            steps.append({"command": cmd, "from": a, "to": b, "ratio": ratio, "per_10x": per_10x})
    data["growth"] = {"points": points, "steps": steps}
    md += ["## 3. Growth: `verify -A` and `list -A` at 500, 5,000 and 20,000 pods", "",
           "Namespaces of 50 Secrets, 30 Deployments and 500 pods each (1, 10, 40 of them), all in one run. The *raw floor* is the same paged LISTs made by the bench's own program (bench/floor.rs) over one connection, one after the other: no kubectl start-up, no decoding beyond the continue token, no output.", "",
           "| pods | verify -A -o json | list -A -o json | raw floor | verify ÷ floor (goal ≤ 1.5) | verify peak RSS | list peak RSS |", "|---|---|---|---|---|---|---|"]
    for pods, p in points.items():
        r, m = p["results"], p["peak_rss_kb"]
        md.append(f"| {pods:,} | {fmt(r['verify -A -o json'])} | {fmt(r['list -A -o json'])} | {fmt(r['raw floor (the same LISTs)'])} "
                  f"| {p['verify_vs_raw_floor']:.2f}× ({verdict(p['verify_vs_raw_floor'] <= GOALS['verify_vs_raw_floor'])}) | {m['verify'] // 1024} MiB | {m['list'] // 1024} MiB |")
    md += ["", "| step | command | time ratio | per 10× of pods (goal ≤ 10.5×) |", "|---|---|---|---|"]
    for s in steps:
        judged = "the API server's own" if s["command"].startswith("raw floor") else verdict(s["per_10x"] <= GOALS["growth_per_10x"])
        md.append(f"| {s['from']:,} → {s['to']:,} | {s['command']} | {s['ratio']:.2f}× | {s['per_10x']:.2f}× ({judged}) |")
    md += ["", "The raw floor's rows are the API server's own growth on this bed: a step where it grows faster than 10.5× per 10× cannot be met by any client; "
           "*verify ÷ floor* above says how far the plugin is from it at each size.", ""]
    biggest = max(points) if points else None
    if biggest:
        mib = points[biggest]["peak_rss_kb"]["verify"] / 1024
        md += ["", f"Peak memory of verify at {biggest:,} pods: **{mib:.0f} MiB** (goal ≤ {GOALS['memory_at_20000_mib']} MiB at 20,000: {verdict(mib <= GOALS['memory_at_20000_mib'])}).", ""]
    with_kubectl = {pods: p for pods, p in points.items() if "kubectl + jq script" in p["results"]}
    for pods, p in with_kubectl.items():
        r, m = p["results"], p["peak_rss_kb"]
        md += [f"At {pods:,} pods, against what a kubectl user runs for the same answer:", "", "| command | median | spread | peak RSS |", "|---|---|---|---|",
               f"| kubectl-secrets verify -A -o json | {fmt(r['verify -A -o json'])} | {spread(r['verify -A -o json'])} | {m['verify'] // 1024} MiB |",
               f"| `kubectl get` of the same kinds, -o json | {fmt(r['kubectl get (same kinds) -o json'])} | {spread(r['kubectl get (same kinds) -o json'])} | {m['kubectl'] // 1024} MiB |",
               f"| kubectl + jq script (bench/kubectl-jq-verify.sh) | {fmt(r['kubectl + jq script'])} | {spread(r['kubectl + jq script'])} | {m['script'] // 1024} MiB |", ""]
    if points:
        fig, (ax, mx) = plt.subplots(1, 2, figsize=(9, 4))
        for key, style in [("verify -A -o json", "o-"), ("list -A -o json", "s--"), ("raw floor (the same LISTs)", "x-.")]:
            ax.plot(sizes, [points[p]["results"][key]["median_s"] for p in sizes], style, label=key)
        log_axes(ax, sizes, "pods", "seconds", "Time")
        for key, style in [("verify", "o-"), ("list", "s--")]:
            mx.plot(sizes, [points[p]["peak_rss_kb"][key] / 1024 for p in sizes], style, label=f"{key} -A")
        mx.axhline(GOALS["memory_at_20000_mib"], color="grey", linestyle=":", label="goal at 20,000 pods")
        log_axes(mx, sizes, "pods", "peak RSS, MiB", "Memory", logy=False)
        fig.tight_layout()
        fig.savefig(out.parent / "growth.svg", metadata={"Date": None})
        md += ["![verify and list growth](growth.svg)", ""]


def fleet_section(out, data, md):
    if not (out / "fleet.json").exists():
        return
    fleet = summaries(out / "fleet.json")
    across = fleet["verify -A across 3 clusters"]
    singles = {k: v for k, v in fleet.items() if k.endswith("alone")}
    slowest_name, slowest = max(singles.items(), key=lambda kv: kv[1]["median_s"])
    mem = mem_file(out / "fleet-mem.txt")
    data["fleet"] = {"results": fleet, "ratio_to_slowest_single": across["median_s"] / slowest["median_s"],
                     "peak_rss_kb": mem, "memory_ratio": mem["fleet"] / mem["single"]}
    if (out / "fleet-floor.json").exists():
        data["fleet"]["floor"] = summaries(out / "fleet-floor.json")
    md += ["## 6. Fleet: `verify -A` across three clusters against each alone", "",
           "Three more local clusters (1,000 pods each) on the same 2 cores as the client.", "",
           "| command | median | spread |", "|---|---|---|"]
    md += [f"| {k} | {fmt(v)} | {spread(v)} |" for k, v in list(fleet.items()) + list(data["fleet"].get("floor", {}).items())]
    ratio, mratio = data["fleet"]["ratio_to_slowest_single"], data["fleet"]["memory_ratio"]
    separate = fleet.get("verify -A: the three at once, separate processes")
    separate_text = ""
    if separate:
        sratio = data["fleet"]["ratio_to_separate"] = across["median_s"] / separate["median_s"]
        separate_text = (f" Against the three single-cluster runs started at once as separate processes (the floor two cores give "
                         f"three clusters): **{sratio:.2f}×** (goal ≤ {GOALS['fleet_vs_separate']}×: {verdict(sratio <= GOALS['fleet_vs_separate'])}).")
    md += ["", f"Across three clusters against the slowest alone ({slowest_name}): **{ratio:.2f}×** (goal ≤ {GOALS['fleet_vs_slowest']}×: {verdict(ratio <= GOALS['fleet_vs_slowest'])}); "
           f"peak memory {mem['fleet'] // 1024} MiB against {mem['single'] // 1024} MiB for one: **{mratio:.2f}×** (goal ≤ {GOALS['fleet_memory']}×: {verdict(mratio <= GOALS['fleet_memory'])}).{separate_text}", ""]
    if (out / "fleet-wave.json").exists():
        wave = summaries(out / "fleet-wave.json")
        at_once = wave["rotate: a wave of 3 clusters at once"]
        alone = {k: v for k, v in wave.items() if k.endswith("alone")}
        slowest_alone = max(alone, key=lambda k: alone[k]["median_s"])
        wratio = at_once["median_s"] / alone[slowest_alone]["median_s"]
        data["fleet"]["wave"] = {"results": wave, "ratio_to_slowest_single": wratio}
        md += ["| rotation | median | spread |", "|---|---|---|"]
        md += [f"| {k} | {fmt(v)} | {spread(v)} |" for k, v in wave.items()]
        floor = wave.get("floor: the three alone, started at once")
        floor_text = ""
        if floor:
            data["fleet"]["wave"]["ratio_to_floor"] = at_once["median_s"] / floor["median_s"]
            floor_text = f" Against the three rotations started at once as separate processes (what two cores give three clusters' control planes): **{data['fleet']['wave']['ratio_to_floor']:.2f}×**."
        md += ["", f"A wave of three clusters rotated at once (`--parallel-clusters 3`, 10 Deployments each) against the slowest alone ({slowest_alone}): **{wratio:.2f}×** (goal ≤ {GOALS['wave_vs_slowest']}×: {verdict(wratio <= GOALS['wave_vs_slowest'])}).{floor_text}", ""]
    if "floor" in data["fleet"]:
        f = data["fleet"]["floor"]
        three, one = f["raw floor: 3 clusters at once"], f["raw floor: bed-0 alone"]
        data["fleet"]["floor_ratio"] = three["median_s"] / one["median_s"]
        md += [f"The raw floor itself (the same LISTs, three clusters at once against one) grows **{data['fleet']['floor_ratio']:.2f}×** on this machine: the three API servers and the client share two cores, so a fan-out cannot be free here as it is against remote clusters.", ""]


def main():
    p = argparse.ArgumentParser()
    p.add_argument("out")
    p.add_argument("dest")
    p.add_argument("--binary-size", type=int)
    p.add_argument("--build-seconds", type=int)
    a = p.parse_args()
    out = Path(a.out)
    plt.rcParams["svg.hashsalt"] = "kubectl-secrets-bench"
    data = {"machine": machine(), "goals": GOALS}
    md = ["# Benchmarks (generated by `make bench`; do not edit)", "",
          f"Machine: {data['machine']}. Local test bed (kube-apiserver v1.37 + kwok), everything on 127.0.0.1, the control plane sharing the 2 cores with the commands measured.",
          "Method: hyperfine, medians over several runs in one `make bench` run (spread = min–max); peak memory from /usr/bin/time (max RSS). Each goal is stated next to its ratio.", ""]
    rotate_section(out, data, md)
    eso_section(out, data, md)
    issuer_section(out, data, md)
    growth_section(out, data, md)
    data["startup"] = summaries(out / "startup.json")
    md += ["## 4. Start-up (no kubeconfig read, no network)", "", "| command | median | spread |", "|---|---|---|"]
    md += [f"| {k} | {fmt(s)} | {spread(s)} |" for k, s in data["startup"].items()]
    md += ["", f"Goal: under {GOALS['startup_ms']} ms.", "", "## 5. Sealing a 100-key Secret with the same certificate", "", "| command | median | spread |", "|---|---|---|"]
    data["seal"] = summaries(out / "seal.json")
    md += [f"| {k} | {fmt(s)} | {spread(s)} |" for k, s in data["seal"].items()]
    data["binary_size_bytes"] = a.binary_size
    data["release_build_seconds_this_run"] = a.build_seconds
    md += ["", f"Binary: {a.binary_size / 1e6:.1f} MB (release, stripped). This run's (incremental) release build took {a.build_seconds} s.", ""]
    fleet_section(out, data, md)
    Path(a.dest, "results.md").write_text("\n".join(md) + "\n")
    Path(a.dest, "results.json").write_text(json.dumps(data, indent=2) + "\n")


if __name__ == "__main__":
    main()
