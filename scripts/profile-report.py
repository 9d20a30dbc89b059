#!/usr/bin/env python3
# SPDX-License-Identifier: GPL-2.0
"""profile-report.py: what scripts/profile's plugin counted, by function.

The guest log has the rows' MMSB-CSV lines and, after each section, the
kernel's text symbols ("KSYM SECTION ADDRESS TYPE NAME [MODULE]": mmsb.ko
is loaded afresh for every section, so its addresses are per section).
Dump N of the plugin is the timed part of the N-th row measured
(mmsb-bench's measure(); rows of other kinds are not marked).  For each
row: the guest instructions of its timed part per delta, and the
functions they were spent in, most first; with --annotate FUNC, FUNC's
instructions (an mmsb.ko function: its disassembly, from --ko) each with
its executions per delta.
"""
import argparse
import bisect
import collections
import csv
import glob
import re
import subprocess
import sys

UNMARKED = {'tick', 'latency', 'latency-self', 'contention'}


def read_log(path):
    rows, syms = [], collections.defaultdict(list)
    for line in open(path, errors='replace'):
        if line.startswith('MMSB-CSV,'):
            r = next(csv.reader([line[len('MMSB-CSV,'):]]))
            if r[0] != 'key' and (r[1] not in UNMARKED or
                                  r[0] == 'seed_tick_flush'):
                rows.append({'key': r[0], 'section': r[1],
                             'deltas': int(r[8]), 'ns': int(r[9])})
        elif line.startswith('KSYM '):
            p = line.split()
            if len(p) >= 5 and not p[4].startswith('__pfx_'):
                mod = p[5].strip('[]') if len(p) > 5 else ''
                syms[p[1]].append((int(p[2], 16), p[4], mod))
    for s in syms.values():
        s.sort()
    return rows, syms


def read_dump(path):
    blocks = []
    for line in open(path):
        v, n, c = line.split()
        blocks.append((int(v, 16), int(n), int(c)))
    return blocks


def symbol(table, addrs, v):
    if v < 1 << 63:
        return '[user]'
    i = bisect.bisect_right(addrs, v) - 1
    if i < 0:
        return '?'
    _, name, mod = table[i]
    return name + (' [%s]' % mod if mod else '')


def annotate(func, table, blocks, ko, per):
    start = [a for a, n, m in table if n == func and m == 'mmsb']
    if not start:
        print('  %s: not an mmsb.ko function of this section' % func)
        return
    out = subprocess.run(['objdump', '-d', '-l', '--no-show-raw-insn',
                          '--disassemble=' + func, ko],
                         capture_output=True, text=True, check=True).stdout
    insns, base = [], None
    for line in out.splitlines():
        m = re.match(r'([0-9a-f]+) <' + re.escape(func) + '>:', line)
        if m:
            base = int(m.group(1), 16)
            continue
        m = re.match(r'\s+([0-9a-f]+):\s+(.*)', line)
        if m and base is not None:
            insns.append((int(m.group(1), 16) - base, m.group(2)))
        elif base is not None and line.startswith('/'):
            insns.append((None, line.rsplit('/', 1)[-1]))
    index = {o: i for i, (o, _) in enumerate(insns) if o is not None}
    runs = collections.Counter()
    for v, n, c in blocks:
        i = index.get(v - start[0])
        while i is not None and n and i < len(insns):
            if insns[i][0] is not None:
                runs[insns[i][0]] += c
                n -= 1
            i += 1
    total = 0
    print('  %s, executions per delta:' % func)
    for o, text in insns:
        if o is None:
            print('                 %s' % text)
            continue
        r = runs[o] / per
        total += r
        print('  %8.2f %5x  %s' % (r, o, text) if r else
              '           %5x  %s' % (o, text))
    print('  %8.1f instructions per delta in %s' % (total, func))


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument('--log', required=True)
    ap.add_argument('--dumps', required=True, help='the plugin\'s prefix')
    ap.add_argument('--ko', help='mmsb.ko, for --annotate')
    ap.add_argument('--top', type=int, default=25)
    ap.add_argument('--annotate', action='append', default=[])
    a = ap.parse_args()
    rows, syms = read_log(a.log)
    dumps = sorted(glob.glob(a.dumps + '.*'),
                   key=lambda p: int(p.rsplit('.', 1)[1]))
    if len(dumps) != len(rows):
        sys.exit('profile-report: %d intervals for %d rows' %
                 (len(dumps), len(rows)))
    for row, path in zip(rows, dumps):
        table = syms.get(row['section'])
        if not table:
            sys.exit('profile-report: no symbols for section %s' %
                     row['section'])
        addrs = [s[0] for s in table]
        blocks = read_dump(path)
        per = row['deltas']
        by = collections.Counter()
        for v, n, c in blocks:
            by[symbol(table, addrs, v)] += n * c
        total = sum(by.values())
        print('%s (%s): %.1f instructions per delta executed; %.1f ns '
              'per delta timed, idle time included' %
              (row['key'], row['section'], total / per, row['ns'] / per))
        for name, n in by.most_common(a.top):
            print('  %8.1f %5.1f%%  %s' % (n / per, 100.0 * n / total, name))
        for func in a.annotate:
            annotate(func, table, blocks, a.ko, per)
        print()


main()
