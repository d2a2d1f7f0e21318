#!/usr/bin/python3
"""cg_diff.py A B N [TOP]: the instructions of one request, by function. A and B are
directories of callgrind.out.* files (one per process of a proxy's tree) from runs that
differ only by N requests; each function's self instructions summed over B's files minus
A's, / N, so start-up and shutdown cancel (t/bench/cache.sh). Prints the total and the TOP
(25) largest functions with their share."""
import collections
import glob
import re
import subprocess
import sys


def profile(d):
    tot = collections.Counter()
    for f in glob.glob(d + "/callgrind.out.*"):
        out = subprocess.run(["callgrind_annotate", "--auto=no", "--inclusive=no",
                              "--threshold=100", f], capture_output=True, text=True).stdout
        for line in out.splitlines():
            m = re.match(r"\s*([\d,]+) \([ \d.]+%\)\s+(.*?)( \[.*\])?$", line)
            if m and "PROGRAM TOTALS" not in line and "=>" not in line:
                tot[m.group(2)] += int(m.group(1).replace(",", ""))
    return tot


def main():
    a, b, n = profile(sys.argv[1]), profile(sys.argv[2]), float(sys.argv[3])
    top = int(sys.argv[4]) if len(sys.argv) > 4 else 25
    per = {k: (v - a.get(k, 0)) / n for k, v in b.items()}
    total = sum(per.values())
    print(f"{total:9,.0f}         instructions per request, every function")
    for k, v in sorted(per.items(), key=lambda x: -x[1])[:top]:
        print(f"{v:9,.0f}  {100 * v / total:5.1f}%  {k}")


if __name__ == "__main__":
    main()
