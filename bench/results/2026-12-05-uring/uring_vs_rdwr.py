#!/usr/bin/env python3
# SPDX-License-Identifier: Apache-2.0
# bs_uring against bs_rdwr in one bench/run.sh run: medians per shape of IOPS and target CPU
# per I/O (uring/rdwr, buffered and O_DIRECT) and mean latency against tgt.
# Usage: uring_vs_rdwr.py OUT/raw.tsv
import sys, csv, statistics as st
from collections import defaultdict
d=defaultdict(list)
for r in csv.DictReader(open(sys.argv[1]), delimiter='\t'):
    try: d[(r['client'],r['shape'],r['store'],r['target'])].append((float(r['iops']),float(r['MBps']),float(r['lat_mean_us']),float(r['target_cpu_us_per_io'])))
    except ValueError: pass
def med(k,i):
    v=[x[i] for x in d.get(k,[])]; return st.median(v) if v else float('nan')
print("| client | shape | mode | uring IOPS | rdwr IOPS | IOPS uring/rdwr | CPU uring | CPU rdwr | CPU uring/rdwr | lat uring/tgt | lat rdwr/tgt |")
print("| --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- |")
for c in ['loadgen','qemu']:
  for sh in ['randread_4k_qd32','randwrite_4k_qd32','read_4k_qd1','seqread_128k_qd16','seqwrite_128k_qd16']:
    for suf,name in [('','buffered'),('-direct','O_DIRECT')]:
      u=(c,sh,'uring'+suf,'modtgt'); w=(c,sh,'rdwr'+suf,'modtgt'); ut=(c,sh,'uring'+suf,'tgt'); wt=(c,sh,'rdwr'+suf,'tgt')
      if u not in d: continue
      print(f"| {c} | {sh} | {name} | {med(u,0):.0f} | {med(w,0):.0f} | {med(u,0)/med(w,0):.2f} | {med(u,3):.1f} | {med(w,3):.1f} | {med(u,3)/med(w,3):.2f} | {med(u,2)/med(ut,2):.2f} | {med(w,2)/med(wt,2):.2f} |")
