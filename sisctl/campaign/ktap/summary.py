"""KTAP findings: a JUnit case per test (per parameter of a parameterised one), counts, a table."""
from __future__ import annotations

from collections import Counter

from sisctl.report.junit import Case


DIAGNOSTICS_KEPT = 60


def test_record(boot: int, suite: str, case: str, param: str, status: str, reason: str, diagnostics: list[str],
                **more) -> dict:
    """One test's record (KUnit's or kselftest's), its diagnostics' last DIAGNOSTICS_KEPT lines kept."""
    return {"type": "test", "suite": suite, "case": case, "param": param, "status": status, "reason": reason,
            "diagnostics": diagnostics[-DIAGNOSTICS_KEPT:], "boot": boot, **more}


def test_name(record: dict) -> str:
    return ".".join(filter(None, (record["suite"], record["case"], record["param"])))


def summarize(records: list[dict]) -> dict:
    tests = [r for r in records if r.get("type") == "test"]
    listed = next((r["tests"] for r in records if r.get("type") == "list"), [])
    counts = Counter(r["status"] for r in tests)
    suites = list(dict.fromkeys(r["suite"] for r in tests))
    names = set(listed) | {f"{r['suite']}.{r['case']}" for r in tests}
    return {"listed": len(names), "results": len(tests),
            "counts": {s: counts.get(s, 0) for s in ("pass", "fail", "skip", "error")},
            "boots": sum(r.get("type") == "boot" for r in records),
            "crashes": [r["crash"] for r in records if r.get("type") == "boot" and r.get("crash")],
            "suites": {s: dict(Counter(r["status"] for r in tests if r["suite"] == s)) for s in suites},
            "not_passed": [{"name": test_name(r), "status": r["status"], "reason": r["reason"],
                            "diagnostics": r["diagnostics"]} for r in tests if r["status"] in ("fail", "error")]}


def cases(records: list[dict]) -> list[Case]:
    """Failures carry their diagnostics (the assertion and its values); a crashed or unreported
    test is an error; a skip keeps its reason."""
    found = []
    for r in (r for r in records if r.get("type") == "test"):
        detail = "\n".join(filter(None, [r["reason"], *r["diagnostics"]]))
        found.append(Case(test_name(r), r["status"] in ("pass", "skip"), detail, error=r["status"] == "error",
                          skipped=r["status"] == "skip"))
    return found


def headline(summary: dict) -> str:
    c = summary["counts"]
    return (f"{summary['listed']} tests ({summary['results']} results with parameters): {c['pass']} passed, "
            f"{c['fail']} failed, {c['error']} errors, {c['skip']} skipped in {summary['boots']} "
            f"boot{'' if summary['boots'] == 1 else 's'}")


def terminal_summary(summary: dict) -> str:
    lines = [f"{'suite':32} {'pass':>5} {'fail':>5} {'error':>5} {'skip':>5}"]
    for suite, counts in summary["suites"].items():
        lines.append(f"{suite:32} " + " ".join(f"{counts.get(s, 0):>5}" for s in ("pass", "fail", "error", "skip")))
    for bad in summary["not_passed"]:
        lines.append(f"{bad['status']}: {bad['name']}: {(bad['reason'] or next(iter(bad['diagnostics']), ''))[:120]}")
    return "\n".join(lines)
