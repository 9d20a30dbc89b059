#!/usr/bin/env python3
# SPDX-License-Identifier: GPL-2.0
"""Judge one QEMU run of mmsb: relabel test results with the kernel's
name, parse KUnit's KTAP, and fail on any kernel splat or a run that did
not reach its end marker.

Prints TAP-like lines ("ok - 6.1:pages.create", "not ok - debug:console
...") and appends the same lines to --results when given.  Exit status 0
only when every result passed.
"""
import argparse
import json
import os
import re
import subprocess
import sys
import tempfile

# Kernel console lines that fail a run whatever the tests said.
SPLATS = re.compile(
    r"BUG:|WARNING:|KASAN|UBSAN|possible circular locking|INFO: task|"
    r"Oops|general protection fault|Call Trace|Kernel panic|"
    r"unreferenced object|suspected memory leak|"
    r"RCU stall|soft lockup|hard LOCKUP")
GUEST = re.compile(r"mmsb-guest: (MMSB-\S+)(?: (\S+))?(?: (\S+))?")
TAP = re.compile(r"^(not ok|ok) \d+ (.*?)(?:\s+#\s*(SKIP|TODO)\b\s*(.*))?$")
TIMESTAMP = re.compile(r"^\[\s*\d+\.\d+\] ")


class Report:
    def __init__(self, kernel, results):
        self.kernel = kernel
        self.results = results
        self.passed = self.failed = self.skipped = 0
        self.lines = []

    def add(self, ok, name, note=""):
        label = f"{self.kernel}:{name}"
        if ok == "skip":
            self.skipped += 1
            line = f"ok - {label} # SKIP {note}".rstrip()
        elif ok:
            self.passed += 1
            line = f"ok - {label}"
        else:
            self.failed += 1
            line = f"not ok - {label}" + (f" # {note}" if note else "")
        self.lines.append(line)
        print(line, flush=True)

    def close(self):
        if self.results:
            with open(self.results, "a") as f:
                f.write("".join(x + "\n" for x in self.lines))


def read(path):
    try:
        with open(path, errors="replace") as f:
            return f.read().replace("\r", "").splitlines()
    except FileNotFoundError:
        return []


def boot_splats(console):
    """Splat lines printed before the guest's /init began, when no mmsb
    code had run yet."""
    found = []
    for line in console:
        if GUEST.search(line):
            break
        if SPLATS.search(line):
            found.append(line.strip())
    return found


def check_console(rep, console):
    """Every splat line fails the run; name the step that was running."""
    step = "boot"
    seen = 0
    for line in console:
        m = GUEST.search(line)
        if m:
            if m.group(1) in ("MMSB-RUN", "MMSB-KUNIT-BEGIN"):
                step = m.group(2) or "kunit"
            continue
        if SPLATS.search(line):
            seen += 1
            if seen <= 5:
                rep.add(False, f"console.{step}", line.strip()[:200])
    if seen > 5:
        rep.add(False, f"console.{step}", f"{seen - 5} more splat lines")
    return seen


def check_tests(rep, output):
    running = None
    results = 0
    bad = 0
    for line in output:
        words = line.split()
        if line.startswith("MMSB-RUN "):
            running, results, bad = words[1], 0, 0
            continue
        if line.startswith("MMSB-EXIT "):
            name, rc = words[1], words[2]
            if rc != "0" and bad == 0:
                rep.add(False, f"{name}.exit", f"exit status {rc}")
            elif results == 0 and rc == "0":
                rep.add(False, f"{name}.exit", "no test result printed")
            running = None
            continue
        m = TAP.match(line.strip())
        if running and m:
            status, desc, directive, why = m.groups()
            results += 1
            if directive == "SKIP":
                rep.add("skip", desc, why or "")
            elif status == "ok":
                rep.add(True, desc)
            else:
                bad += 1
                rep.add(False, desc)
        elif running and line.startswith("#") and "FAIL" in line:
            print(f"# {rep.kernel}: {line}")
    if running:
        rep.add(False, f"{running}.exit", "did not finish")


def kunit_leaves(group, prefix):
    for case in group.get("test_cases", []):
        yield f"{prefix}.{case['name']}", case["status"]
    for sub in group.get("sub_groups", []):
        yield from kunit_leaves(sub, f"{prefix}.{sub['name']}")


def check_kunit(rep, console, parser):
    begin = end = None
    for i, line in enumerate(console):
        if "mmsb-guest: MMSB-KUNIT-BEGIN" in line:
            begin = i
        elif "mmsb-guest: MMSB-KUNIT-END" in line:
            end = i
    if begin is None or end is None:
        rep.add(False, "kunit", "KUnit markers missing")
        return
    ktap = [TIMESTAMP.sub("", x) for x in console[begin + 1:end]]
    with tempfile.TemporaryDirectory() as tmp:
        src = os.path.join(tmp, "ktap")
        js = os.path.join(tmp, "json")
        with open(src, "w") as f:
            f.write("\n".join(ktap) + "\n")
        run = subprocess.run([sys.executable, parser, "parse", f"--json={js}",
                              src], capture_output=True, text=True)
        sys.stdout.write(run.stdout)
        if not os.path.exists(js):
            rep.add(False, "kunit", "kunit.py parse produced no result")
            return
        with open(js) as f:
            tree = json.load(f)
    count = 0
    for name, status in kunit_leaves(tree, "kunit"):
        count += 1
        if status == "PASS":
            rep.add(True, name)
        elif status == "SKIP":
            rep.add("skip", name)
        else:
            rep.add(False, name, status)
    if count == 0:
        rep.add(False, "kunit", "no KUnit case ran")
    if run.returncode != 0 and rep.failed == 0:
        rep.add(False, "kunit", "kunit.py parse reported a failure")


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--kernel", required=True)
    ap.add_argument("--job", required=True)
    ap.add_argument("--console", required=True)
    ap.add_argument("--output", required=True)
    ap.add_argument("--qemu-rc", type=int, default=0)
    ap.add_argument("--seconds", type=int, default=0)
    ap.add_argument("--kunit-parser")
    ap.add_argument("--results")
    ap.add_argument("--retry-boot-splat", action="store_true",
                    help="exit 75, recording nothing, if the kernel "
                    "complained before mmsb was loaded")
    args = ap.parse_args()

    console = read(args.console)
    output = read(args.output)
    if args.retry_boot_splat and boot_splats(console):
        for line in boot_splats(console)[:5]:
            print(f"# {args.kernel}: splat before mmsb was loaded: {line}")
        return 75

    rep = Report(args.kernel, args.results)

    if args.job == "tests":
        check_tests(rep, output)
    elif args.job == "kunit":
        check_kunit(rep, console, args.kunit_parser)
    else:
        for line in output:
            if not line.startswith("MMSB-"):
                print(line)
    check_console(rep, console)

    ended = any(x.startswith("MMSB-END") for x in output)
    if not ended:
        why = "QEMU timed out" if args.qemu_rc == 124 else \
            f"no end marker (QEMU exit {args.qemu_rc})"
        rep.add(False, f"{args.job}.run", why)
        for line in console[-15:]:
            print(f"# console: {line}")
    print(f"# {args.kernel} {args.job}: {rep.passed} passed, {rep.failed} "
          f"failed, {rep.skipped} skipped in {args.seconds} s")
    rep.close()
    return 1 if rep.failed else 0


if __name__ == "__main__":
    sys.exit(main())
