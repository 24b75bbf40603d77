#!/usr/bin/env python3
"""Summarises `swift test` runs: passed, skipped and failed tests per suite, from Swift Testing's xUnit files
(`swift test --xunit-output X.xml` writes X-swift-testing.xml) and the console log.

    scripts/test-report.py [--refuse-skips] [--require-target NAME]... [--log LOG]... RESULT.xml...

Prints one line per suite (passed, skipped, failed), then every skipped test or suite with its reason, then the
totals. Exits 1 when
  - --refuse-skips is given and any test or suite was skipped (a missing broker, tool or variable): in the xUnit
    files (<skipped>) or in a log (Swift Testing's `➜ Test x skipped` / `➜ Suite "x" skipped` lines, XCTest's
    `Test Case '...' skipped`);
  - a --require-target (a test target, e.g. ConveyorSQSTests) passed no test at all;
  - any test failed, or (with --refuse-skips) a suite in the results passed no test;
  - no result file was given or one cannot be read.
scripts/test.sh and .ci/run call it; run it by hand on a saved log and result files to check a run.
"""
import argparse
import re
import sys
import xml.etree.ElementTree as ET
from collections import defaultdict

ANSI = re.compile(r"\x1b\[[0-9;]*[A-Za-z]")
# Swift Testing: `➜ Test foo() skipped.`, `➜ Suite "X" skipped: "reason"`; XCTest: `Test Case '-[M.C t]' skipped`.
SWIFT_TESTING_SKIP = re.compile(r'^\s*➜ (Test|Suite) (.+?) skipped(?:: "(.*)"|\.)\s*$')
XCTEST_SKIP = re.compile(r"^\s*Test Case '(.+?)' skipped")


def read_results(paths):
    """{suite: {"passed": n, "skipped": n, "failed": n}} and [(suite, test, reason)] of skipped tests."""
    counts = defaultdict(lambda: {"passed": 0, "skipped": 0, "failed": 0})
    skipped = []
    for path in paths:
        root = ET.parse(path).getroot()
        for case in root.iter("testcase"):
            suite = case.get("classname") or "(no suite)"
            name = case.get("name") or "?"
            if case.find("skipped") is not None:
                counts[suite]["skipped"] += 1
                skipped.append((suite, name, (case.find("skipped").text or "").strip()))
            elif case.find("failure") is not None or case.find("error") is not None:
                counts[suite]["failed"] += 1
            else:
                counts[suite]["passed"] += 1
    return counts, skipped


def read_log_skips(paths):
    """Skip lines of the console logs, as (kind, name, reason)."""
    found = []
    for path in paths:
        with open(path, encoding="utf-8", errors="replace") as log:
            for line in log:
                line = ANSI.sub("", line.rstrip("\n"))
                match = SWIFT_TESTING_SKIP.match(line)
                if match:
                    found.append((match.group(1), match.group(2), match.group(3) or ""))
                    continue
                match = XCTEST_SKIP.match(line)
                if match:
                    found.append(("Test", match.group(1), "XCTest skip"))
    return found


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("results", nargs="*", help="Swift Testing xUnit files (*-swift-testing.xml)")
    parser.add_argument("--log", action="append", default=[], help="console log of the run (repeatable)")
    parser.add_argument("--refuse-skips", action="store_true", help="fail when anything was skipped (CI)")
    parser.add_argument("--require-target", action="append", default=[], help="a test target that must pass tests")
    args = parser.parse_args()

    problems = []
    try:
        counts, skipped = read_results(args.results)
        log_skips = read_log_skips(args.log)
    except (OSError, ET.ParseError) as error:
        print(f"test-report: cannot read the results: {error}", file=sys.stderr)
        return 1
    if not args.results:
        problems.append("no xUnit result file was given (swift test --xunit-output)")

    width = max([len(s) for s in counts] + [5])
    print(f"{'suite'.ljust(width)}  passed  skipped  failed")
    for suite in sorted(counts):
        c = counts[suite]
        print(f"{suite.ljust(width)}  {c['passed']:6}  {c['skipped']:7}  {c['failed']:6}")
        if c["passed"] == 0 and args.refuse_skips:
            problems.append(f"suite {suite} passed no test")
    total = {key: sum(c[key] for c in counts.values()) for key in ("passed", "skipped", "failed")}

    if total["failed"]:
        problems.append(f"{total['failed']} test(s) failed")
    for target in args.require_target:
        passed = sum(c["passed"] for suite, c in counts.items() if suite == target or suite.startswith(target + "."))
        if passed == 0:
            problems.append(f"test target {target} ran no test")

    if skipped or log_skips:
        print(f"skipped ({len(skipped)} in the results, {len(log_skips)} skip lines in the log):")
        for suite, name, reason in skipped:
            print(f"  {suite}.{name}: {reason or 'no reason given'}")
        for kind, name, reason in log_skips:
            print(f"  log: {kind} {name}: {reason or 'no reason given'}")
        if args.refuse_skips:
            problems.append(f"{len(skipped) + len(log_skips)} skipped test(s) or suite(s); every test must run here")

    print(f"total: {total['passed']} passed, {total['skipped']} skipped, {total['failed']} failed in {len(counts)} suites")
    for problem in problems:
        print(f"test-report: FAILED: {problem}")
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main())
