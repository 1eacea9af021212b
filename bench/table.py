#!/usr/bin/env python3
# SPDX-License-Identifier: Apache-2.0
# bench/table.py RAW.tsv: the side-by-side table of bench/run.sh in Markdown. Per client,
# shape and store: medians over the rounds of modtgt and tgt, and the ratios modtgt/tgt
# (IOPS or MB/s: higher is better for modtgt; latency and CPU per I/O: lower is better).
import csv
import statistics
import sys
from collections import defaultdict


def med(xs):
    xs = [float(x) for x in xs if x not in ("NA", "", None)]
    return statistics.median(xs) if xs else None


def rng(xs):
    xs = [float(x) for x in xs if x not in ("NA", "", None)]
    return (min(xs), max(xs)) if xs else None


def fmt(v, digits=1):
    if v is None:
        return "NA"
    if abs(v) >= 1000:
        return f"{v:,.0f}".replace(",", "")
    return f"{v:.{digits}f}"


def ratio(a, b):
    return "NA" if a is None or b is None or b == 0 else f"{a / b:.2f}"


def main():
    rows = list(csv.DictReader(open(sys.argv[1]), delimiter="\t"))
    data = defaultdict(lambda: defaultdict(list))
    order = []
    for r in rows:
        key = (r["client"], r["shape"], r["store"])
        if key not in order:
            order.append(key)
        for f in ("iops", "MBps", "lat_mean_us", "lat_p99_us", "target_cpu_us_per_io", "client_cpu_s"):
            data[key + (r["target"],)][f].append(r[f])
    rounds = len({r["round"] for r in rows})
    print(f"Medians of {rounds} alternating round(s). Throughput: IOPS for 4 KiB shapes, MB/s "
          "(10^6 B/s) for 128 KiB shapes; [min-max] over the rounds. lat = mean latency "
          "(qemu: QD/IOPS), p99 from loadgen only. CPU = target CPU us per I/O. "
          "Ratios are modtgt/tgt (uring rows: against tgt rdwr).\n")
    for client in dict.fromkeys(k[0] for k in order):
        print(f"### client: {client}\n")
        print("| shape | store | modtgt | tgt | ratio | lat modtgt | lat tgt | ratio | p99 modtgt "
              "| p99 tgt | CPU modtgt | CPU tgt | ratio |")
        print("| --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- |")
        for key in order:
            if key[0] != client:
                continue
            m, t = data[key + ("modtgt",)], data[key + ("tgt",)]
            thr = "MBps" if "128k" in key[1] else "iops"
            cells = []
            vals = {}
            for who, d in (("m", m), ("t", t)):
                v = med(d[thr])
                r = rng(d[thr])
                vals[who] = v
                cells.append(f"{fmt(v)} [{fmt(r[0])}-{fmt(r[1])}]" if r and r[0] != r[1] else fmt(v))
            lm, lt = med(m["lat_mean_us"]), med(t["lat_mean_us"])
            pm, pt = med(m["lat_p99_us"]), med(t["lat_p99_us"])
            cm, ct = med(m["target_cpu_us_per_io"]), med(t["target_cpu_us_per_io"])
            print(f"| {key[1]} | {key[2]} | {cells[0]} | {cells[1]} | {ratio(vals['m'], vals['t'])} "
                  f"| {fmt(lm)} | {fmt(lt)} | {ratio(lm, lt)} | {fmt(pm)} | {fmt(pt)} "
                  f"| {fmt(cm, 2)} | {fmt(ct, 2)} | {ratio(cm, ct)} |")
        print()


if __name__ == "__main__":
    main()
