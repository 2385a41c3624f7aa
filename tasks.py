"""sisctl's command line: `invoke --list` shows every task, `invoke --help TASK` its options.

The tasks live in sisctl/cli/, one module per area; this file only assembles them.
Exit codes of every task: 0 ok, 1 test failure, 2 usage or bad input, 75 infrastructure error.
"""
from invoke import Collection

from sisctl.cli.common import leave_without_teardown_at_exit, usage_errors_exit_2
leave_without_teardown_at_exit()        # before anything else registers an exit step
usage_errors_exit_2()                   # an unknown option exits 2, not invoke's 1

from sisctl.cli.bench import bench
from sisctl.cli.speed import speed
from sisctl.cli.board import build, console, flash, run, setup, smoke, test
from sisctl.cli.campaign import campaign
from sisctl.cli.fuzz import fuzz
from sisctl.cli.lab import lab, power, telemetry
from sisctl.cli.nightly import nightly
from sisctl.cli.profile import profile
from sisctl.cli.fleet import fleet
from sisctl.cli.report import report

ns = Collection(setup, build, flash, run, console, smoke, test, profile, nightly, campaign, bench, speed, lab, telemetry, power, report,
                fleet, fuzz)
