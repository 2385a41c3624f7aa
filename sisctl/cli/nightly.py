"""`invoke nightly --plan NAME`: the job a lab's CI runs every night."""
from __future__ import annotations

import json

from invoke import Exit, task

from sisctl.cli.common import guard, lines, say


@task(help={"plan": "plan name (lab/plans/NAME.yaml) or path", "dry_run": "list the jobs and where they run; run nothing",
            "json": "print the summary as JSON"})
@guard
def nightly(c, plan="nightly", dry_run=False, json_=False):
    """Run a test plan (kernels x boards x campaigns) as one job: one JUnit, one HTML report, exit 0/1/2/75."""
    from sisctl.nightly.plan import find_plan, load_plan
    from sisctl.campaign.core.runner import STATUS_EXIT
    from sisctl.errors import USAGE
    from sisctl.nightly.run import run_plan
    path = find_plan(plan)
    if dry_run:
        spec, jobs = load_plan(path)
        rows = [{"job": j.id, "kind": j.kind, "board": j.board, "kernel": j.kernel, "options": j.options,
                 "seed": j.seed} for j in jobs]
        say(json_, {"plan": spec.name, "jobs": rows},
            f"plan {spec.name}: {len(jobs)} jobs\n" + "\n".join(
                f"  {r['job']:36s} {r['kind']:10s} on {r['board']:14s} kernel {r['kernel']:18s} {r['options'] or ''}"
                for r in rows))
        return
    summary = run_plan(path, progress=lines(json_))
    if json_:
        print(json.dumps(summary, indent=1))
    code = USAGE if summary.get("error_kind") == "usage" else STATUS_EXIT[summary["status"]]
    if code:   # ends on what went wrong, as every task does: the first jobs that did not pass
        raise Exit(f"error: nightly {summary['plan']} {summary['status']}: {summary['reason'] or 'no job ran'}",
                   code=code)
