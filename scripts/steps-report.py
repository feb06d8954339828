#!/usr/bin/env python3
"""The step table of `make test` (scripts/test.sh): seconds per step and, for each, which of the
bed's components were built and which reused from the per-user store (scripts/lib/store.sh).
Usage: steps-report.py STEPS_DIR OUT_JSON"""
import json
import sys
from pathlib import Path


def read_jsonl(path):
    if not path.exists():
        return []
    return [json.loads(line) for line in path.read_text().splitlines() if line.strip()]


def main():
    steps_dir, out_json = Path(sys.argv[1]), Path(sys.argv[2])
    rows = []
    for step in read_jsonl(steps_dir / "steps.jsonl"):
        events = read_jsonl(steps_dir / f"{step['step']}.events")
        built = {}
        reused = set()
        for e in events:
            name = f"{e['component']} {e['version']}"
            if e["state"] == "built":
                built[name] = {"seconds": e["seconds"], "cpu": e.get("cpu")}
            else:
                reused.add(name)
        reused -= set(built)
        rows.append({**step, "built": built, "reused": sorted(reused)})
    # A build beside the steps overlaps them: shown, not added to the total. Steps of one group
    # ran at once: the group counts as its longest.
    total = sum(r["seconds"] for r in rows if not r.get("beside") and not r.get("group"))
    groups = {}
    for r in rows:
        if r.get("group"):
            groups[r["group"]] = max(groups.get(r["group"], 0), r["seconds"])
    total += sum(groups.values())
    out_json.parent.mkdir(parents=True, exist_ok=True)
    out_json.write_text(json.dumps({"steps": rows, "total_seconds": round(total, 1)}, indent=2) + "\n")

    print("\nmake test, step by step:", file=sys.stderr)
    print(f"  {'step':<13} {'seconds':>8}  {'result':<7} bed components", file=sys.stderr)
    for r in rows:
        result = "ok" if r["status"] == 0 else f"exit {r['status']}"
        parts = [f"built {name} ({b['seconds']}s, {b['cpu']} s of CPU)" if b["cpu"] is not None
                 else f"built {name} ({b['seconds']}s)" for name, b in r["built"].items()]
        if r["reused"]:
            parts.append(f"reused {len(r['reused'])}")
        step = f"({r['step']})" if r.get("beside") else r["step"]
        if r.get("group"):
            step = f"{step} *"
        print(f"  {step:<13} {r['seconds']:>8.1f}  {result:<7} {', '.join(parts) or '-'}", file=sys.stderr)
    print(f"  {'total':<13} {total:>8.1f}  ({out_json})", file=sys.stderr)
    if groups:
        print("  *: ran at the same time as the other steps marked so (counted once, as the longest)", file=sys.stderr)
    if any(r.get("beside") for r in rows):
        print("  (beside): the bed's components a new machine lacks, built beside the steps (the e2e bed above the steps' priority where allowed, the tools at the lowest)", file=sys.stderr)


if __name__ == "__main__":
    main()
