"""Where a verdict's time went: after the measurement, each workload whose gate metric regressed or
improved is sampled on both kernels (ABBA, as it was measured), and its differential profile names
the functions whose share changed beyond sampling noise. Kept as a 'profile' record per workload,
so a resumed campaign does not profile it again."""
from __future__ import annotations

import time

from sisctl.campaign.bench.campaign import guest_command
from sisctl.campaign.bench.suite import Suite
from sisctl.jobs.profile import profile_sides
from sisctl.telemetry.points import make_point

CHANGED = ("regressed", "improved")
NAMED = 5            # growers and shrinkers kept in the record and the JUnit text
HZ = 1000


def workloads_to_profile(found, suite: Suite) -> list:
    names = {c.key.split(":", 1)[1].split(".", 1)[0] for c in found if c.gate and c.verdict in CHANGED}
    return [w for w in suite.workloads if w.name in names]


def profile_changes(campaign, found) -> None:
    ctx = campaign.ctx
    done = {r["workload"] for r in campaign.records if r.get("type") == "profile"}
    for workload in workloads_to_profile(found, campaign.suite):
        if workload.name in done:
            continue
        if workload.agent is None or workload.needs_disk:
            campaign._append({"type": "profile", "workload": workload.name,
                              "skipped": "profiles sample agent workloads without the benchmark disk"})
            continue
        ctx.progress(f"profiling {workload.name} on both kernels")
        result = profile_sides(ctx.board, campaign.variants, guest_command(workload),
                               ctx.out / "profiles" / workload.name, HZ, progress=ctx.progress)
        keep = ("function", "before_share", "after_share", "change", "p_value")
        record = {"type": "profile", "workload": workload.name, "problem": result["problem"],
                  "growers": [{k: r[k] for k in keep} for r in result["growers"][:NAMED]],
                  "shrinkers": [{k: r[k] for k in keep} for r in result["shrinkers"][:NAMED]],
                  "samples": {side: f["counted"] for side, f in result["sides"].items()}}
        campaign._append(record)
        now = time.time_ns()
        ctx.write_points([make_point("profile_top", {"board": ctx.board.name, "campaign": ctx.out.name,
                                                     "workload": workload.name, "side": side,
                                                     "function": top["function"]},
                                     {"self_share": top["self_share"], "total_share": top["total_share"],
                                      "samples": top["self"]}, now)
                          for side, figures in result["sides"].items() for top in figures["top"]])


def profiles_of(records: list[dict]) -> dict[str, dict]:
    return {r["workload"]: r for r in records if r.get("type") == "profile"}


def grower_text(profile: dict | None) -> str:
    """What a verdict's JUnit text adds: the top grower, or why there is none."""
    if not profile:
        return ""
    if profile.get("skipped") or profile.get("problem"):
        return f"; no profile: {profile.get('skipped') or profile['problem']}"
    if not profile["growers"]:
        return "; profile: no function grew beyond sampling noise"
    top = profile["growers"][0]
    return (f"; profile: top grower {top['function']} ({100 * top['before_share']:.1f} % -> "
            f"{100 * top['after_share']:.1f} % of the samples)")


def profile_section(records: list[dict]):
    from sisctl.report.page import Link, Table
    rows = []
    for name, p in profiles_of(records).items():
        named = [f"{g['function']} {100 * g['change']:+.1f}" for g in p.get("growers", [])[:3]]
        link = Link("differential flame graph", f"profiles/{name}/diff.svg") if not p.get("skipped") else None
        rows.append([name, ", ".join(named) or p.get("skipped") or p.get("problem") or "none beyond noise", link])
    return Table("Differential profiles (share of samples, percentage points)", ["workload", "grew", "graph"], rows) \
        if rows else None
