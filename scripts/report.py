#!/usr/bin/env python3
# SPDX-License-Identifier: GPL-2.0
"""Judge one QEMU run of mmsb: relabel test results with the kernel's
name, parse KUnit's KTAP, and fail on any kernel splat, a failed guest
step, a skip not on the allowlist, an expected program or suite that did
not run in full, or a run that did not reach its end marker.

Prints TAP-like lines ("ok - 6.1:pages.create", "not ok - debug:console
...") and appends the same lines to --results when given.  Exit status 0
only when every result passed.

The guest (tests/guest/init and the job) writes markers on its output:
"MMSB-RUN NAME" before a test program's TAP, "MMSB-EXIT NAME STATUS"
after a program or a step (insmod, rmmod, a kmemleak scan; STATUS 0 or
what failed), "MMSB-END" last.  A step is a result of its own, "ok" only
with status 0.  Console copies of the markers ("mmsb-guest: ...") name
the step a splat came in.
"""
import argparse
import glob
import json
import os
import re
import subprocess
import sys
import tempfile

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
ALLOWED_SKIPS = os.path.join(ROOT, "tests", "allowed-skips")

# Kernel console lines that fail a run whatever the tests said.  The
# detectors' lines are spelt as the kernel prints them (6.12:
# kernel/hung_task.c, kernel/watchdog.c, kernel/rcu/tree_stall.h,
# tree_exp.h and tasks.h), though "BUG:" and "Call Trace" catch most.
SPLATS = re.compile(
    r"BUG:|WARNING:|KASAN|UBSAN|possible circular locking|"
    r"Oops|general protection fault|Call Trace|Kernel panic|"
    r"unreferenced object|suspected memory leak|"
    r"INFO: task .* blocked for more than \d+ seconds|"
    r"watchdog: BUG: soft lockup|Watchdog detected hard LOCKUP|"
    r"INFO: rcu_\w+ (?:self-)?detected (?:expedited )?stalls?")
# The kernel's report of a failed allocation (mm/page_alloc.c and
# mm/vmalloc.c warn_alloc(): a header line, then a stack dump ending with
# "</TASK>").  In the steps that make allocations fail on purpose
# (FAULT_STEPS: fault injection, tests/faults.c) it is the expected
# notice of an injected failure, not a splat; anywhere else it fails.
WARN_ALLOC = re.compile(r"(?:vmalloc error:|page allocation failure:)")
WARN_ALLOC_END = re.compile(r"</TASK>")
FAULT_STEPS = ("faults",)
GUEST = re.compile(r"mmsb-guest: (MMSB-\S+)(?: (\S+))?(?: (\S+))?")
TAP = re.compile(r"^(not ok|ok) \d+ (.*?)"
                 r"(?:\s+#\s*(SKIP|TODO|XFAIL|XPASS)\b\s*(.*))?$")
PLAN = re.compile(r"^1\.\.(\d+)\b")
TIMESTAMP = re.compile(r"^\[\s*\d+\.\d+\] ")
# Kernels whose guest must report a kmemleak scan.
KMEMLEAK_KERNELS = ("debug",)


def read_allowlist(path):
    """The skips that may happen: {name: reason}, a name with or without
    its kernel ("6.1:uring.x" or "uring.x").  Lines: NAME REASON; "#"
    starts a comment.  An entry without a reason is an error."""
    allowed = {}
    bad = []
    try:
        with open(path) as f:
            lines = f.read().splitlines()
    except FileNotFoundError:
        return allowed, bad
    for n, line in enumerate(lines, 1):
        line = line.split("#", 1)[0].strip()
        if not line:
            continue
        words = line.split(None, 1)
        if len(words) < 2:
            bad.append(f"{os.path.basename(path)}:{n}: {words[0]} has no reason")
            continue
        allowed[words[0]] = words[1]
    return allowed, bad


class Report:
    def __init__(self, kernel, results, allowed):
        self.kernel = kernel
        self.results = results
        self.allowed = allowed
        self.passed = self.failed = self.skipped = 0
        self.lines = []

    def add(self, ok, name, note=""):
        label = f"{self.kernel}:{name}"
        if ok == "skip":
            # A skip passes only when the allowlist gives a reason.
            why = self.allowed.get(label) or self.allowed.get(name)
            if why is None:
                ok = False
                note = f"skipped, not in tests/allowed-skips: {note}".rstrip(": ")
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


def check_console(rep, console, finished):
    """Every splat line fails the run; name the step that was running.
    The guest's last marker on the console is its end marker, written
    after the job and flushed before power-off: in a run that finished,
    a console without it may be missing a late splat."""
    step = "boot"
    seen = 0
    ended = False
    in_warn_alloc = False
    for line in console:
        m = GUEST.search(line)
        if m:
            if m.group(1) in ("MMSB-RUN", "MMSB-STEP", "MMSB-KUNIT-BEGIN"):
                step = m.group(2) or "kunit"
            ended = m.group(1) == "MMSB-END"
            continue
        if step in FAULT_STEPS and WARN_ALLOC.search(line):
            in_warn_alloc = True
        if in_warn_alloc:
            in_warn_alloc = not WARN_ALLOC_END.search(line)
            continue
        if SPLATS.search(line):
            seen += 1
            if seen <= 5:
                rep.add(False, f"console.{step}", line.strip()[:200])
    if seen > 5:
        rep.add(False, "console", f"{seen - 5} more splat lines")
    if finished and not ended:
        rep.add(False, "console.end", "console does not end with the guest's "
                "end marker")
    return seen


def check_steps(rep, output):
    """Each "MMSB-EXIT NAME STATUS" of a step (not a test program, which
    has its "MMSB-RUN NAME"): a result, ok only with status 0.  Returns
    the names seen."""
    programs = {x.split()[1] for x in output
                if x.startswith("MMSB-RUN ") and len(x.split()) > 1}
    seen = []
    for line in output:
        words = line.split()
        if len(words) == 3 and words[0] == "MMSB-EXIT" and \
                words[1] not in programs:
            name, rc = words[1], words[2]
            seen.append(name)
            rep.add(rc == "0", name, "" if rc == "0" else f"exit status {rc}")
    return seen


def check_tests(rep, output, expected):
    """The TAP of each program: every result its plan ("1..N") promised,
    an exit status 0 (or 1 with a failure reported), and every expected
    program run."""
    running = None
    plan = None
    results = bad = 0
    ran = set()
    # The diagnostics of the test running now ("#  RUN" to its result),
    # printed when it fails: the assertion and its TH_LOG lines.
    diag = []
    if not expected:
        rep.add(False, "tests", "no test program expected")
    for line in output:
        words = line.split()
        if line.startswith("MMSB-RUN "):
            if running:
                rep.add(False, f"{running}.exit", "did not finish")
            running, plan, results, bad = words[1], None, 0, 0
            continue
        if line.startswith("MMSB-EXIT ") and running == words[1]:
            name, rc = words[1], words[2]
            ran.add(name)
            if rc != "0" and not (rc == "1" and bad):
                rep.add(False, f"{name}.exit", f"exit status {rc}")
            elif plan is None:
                rep.add(False, f"{name}.plan", "no TAP plan printed")
            elif plan == 0 or results != plan:
                rep.add(False, f"{name}.plan",
                        f"{plan} results planned, {results} printed")
            running = None
            continue
        if not running:
            continue
        m = PLAN.match(line.strip())
        if m:
            plan = int(m.group(1))
            continue
        if line.startswith("#"):
            if "RUN " in line:
                diag = []
            diag.append(line)
            if "FAIL" in line:
                for d in diag[-40:]:
                    print(f"# {rep.kernel}: {d}")
                diag = []
            continue
        m = TAP.match(line.strip())
        if m:
            status, desc, directive, why = m.groups()
            desc = desc.rstrip(" #")
            results += 1
            if directive:
                # A skip, or an expected failure that did or did not happen.
                note = why or ""
                if directive != "SKIP":
                    note = f"{directive} {note}".strip()
                rep.add("skip", desc, note)
            elif status == "ok":
                rep.add(True, desc)
            else:
                bad += 1
                rep.add(False, desc)
    if running:
        rep.add(False, f"{running}.exit", "did not finish")
    for name in expected:
        if name not in ran:
            rep.add(False, f"{name}.run", "expected program did not run")


def kunit_leaves(group, prefix):
    for case in group.get("test_cases", []):
        yield f"{prefix}.{case['name']}", case["status"]
    for sub in group.get("sub_groups", []):
        yield from kunit_leaves(sub, f"{prefix}.{sub['name']}")


def kunit_suites(root):
    """The suites mmsb_kunit.ko should run: each kunit_test_suite(s)()
    in kmod/tests/*.c, by the .name of the struct kunit_suite named."""
    suites = []
    for path in sorted(glob.glob(os.path.join(root, "kmod", "tests", "*.c"))):
        with open(path) as f:
            src = f.read()
        for args in re.findall(r"^kunit_test_suites?\((.*?)\);", src,
                               re.M | re.S):
            for var in re.findall(r"\w+", args):
                m = re.search(r"struct kunit_suite\s+" + var +
                              r"\s*=\s*\{.*?\.name\s*=\s*\"([^\"]+)\"",
                              src, re.S)
                suites.append(m.group(1) if m else f"{var} (no .name in "
                              f"{os.path.relpath(path, root)})")
    return suites


def check_kunit(rep, console, parser, expected):
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
    failed = rep.failed
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
    # kunit.py fails a suite whose plan ("1..N") its results do not meet.
    if run.returncode != 0 and rep.failed == failed:
        rep.add(False, "kunit", "kunit.py parse reported a failure")
    ran = {g["name"] for g in tree.get("sub_groups", [])} | \
          {c["name"] for c in tree.get("test_cases", [])}
    for suite in expected:
        if suite not in ran:
            rep.add(False, f"kunit.{suite}", "expected suite did not run")


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
    ap.add_argument("--tests", default="",
                    help="the test programs the tests job must run")
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

    allowed, bad = read_allowlist(ALLOWED_SKIPS)
    rep = Report(args.kernel, args.results, allowed)
    for why in bad:
        rep.add(False, "allowed-skips", why)

    steps = []
    if args.job == "tests":
        check_tests(rep, output, args.tests.split())
    elif args.job == "kunit":
        check_kunit(rep, console, args.kunit_parser, kunit_suites(ROOT))
        steps = ["kunit.load", "kunit.unload"]
    else:
        for line in output:
            if not line.startswith("MMSB-"):
                print(line)
        if args.job == "fuzz":
            steps = ["fuzz.insmod", "fuzz.run", "fuzz.rmmod"]
    if args.kernel in KMEMLEAK_KERNELS:
        steps.append("kmemleak")
    seen = check_steps(rep, output)
    ended = any(x.startswith("MMSB-END") for x in output)
    for name in steps:
        if ended and name not in seen:
            rep.add(False, name, "step did not report")
    check_console(rep, console, ended)

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
