#!/usr/bin/env python3
# SPDX-License-Identifier: Apache-2.0
"""Medians of ab.sh's per-round ratios: uring/rdwr MB/s and CPU per I/O on each daemon, and
uring on A against uring on B. Usage: abstat.py AB.tsv (store names: rdwr[-direct],
uring[-direct])."""
import statistics as st
import sys

d = {}
for line in open(sys.argv[1]):
    if not line.strip():
        continue
    r, dm, s, _iops, mb, cpu = line.split('\t')
    d[(int(r), dm, s.replace('-direct', ''))] = (float(mb), float(cpu))
rounds = sorted({k[0] for k in d})
for dm in ('A', 'B'):
    mb = [d[(r, dm, 'uring')][0] / d[(r, dm, 'rdwr')][0] for r in rounds]
    cpu = [d[(r, dm, 'uring')][1] / d[(r, dm, 'rdwr')][1] for r in rounds]
    print(f"{dm}: uring/rdwr MB/s median {st.median(mb):.2f} {[round(x, 2) for x in mb]}, "
          f"CPU/IO median {st.median(cpu):.2f}")
ab = [d[(r, 'A', 'uring')][0] / d[(r, 'B', 'uring')][0] for r in rounds]
print(f"uring A/B MB/s median {st.median(ab):.2f} {[round(x, 2) for x in ab]}")
