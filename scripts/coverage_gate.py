"""Prints line coverage per crate from `cargo llvm-cov report --json` and fails when a gated
crate is below its target. Usage: coverage_gate.py REPORT.json CRATE:PERCENT..."""

import json
import sys
from collections import defaultdict


def main() -> int:
    report_path, *gates = sys.argv[1:]
    with open(report_path, encoding="utf-8") as handle:
        report = json.load(handle)
    lines = defaultdict(lambda: [0, 0])
    for data in report["data"]:
        for entry in data["files"]:
            path = entry["filename"]
            if "/crates/" not in path:
                continue
            crate = path.split("/crates/", 1)[1].split("/", 1)[0]
            summary = entry["summary"]["lines"]
            lines[crate][0] += summary["covered"]
            lines[crate][1] += summary["count"]
    print(f"{'crate':<20} {'lines':>8} {'covered':>8} {'percent':>8}")
    for crate in sorted(lines):
        covered, count = lines[crate]
        percent = 100.0 * covered / count if count else 100.0
        print(f"{crate:<20} {count:>8} {covered:>8} {percent:>7.1f}%")
    failed = False
    for gate in gates:
        crate, target = gate.split(":")
        covered, count = lines.get(crate, [0, 0])
        percent = 100.0 * covered / count if count else 0.0
        if percent < float(target):
            print(f"coverage gate FAILED: {crate} {percent:.1f}% < {target}%")
            failed = True
        else:
            print(f"coverage gate ok: {crate} {percent:.1f}% >= {target}%")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
