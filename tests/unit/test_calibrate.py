"""The power model's calibration fits the meter's readings."""
from __future__ import annotations

import pytest

from sisctl.telemetry.calibrate import calibrate, fit_linear
from sisctl.telemetry.power import PowerError


def test_fit_recovers_the_line():
    idle, cpu = fit_linear([(0.0, 2.5), (0.0, 2.7), (1.0, 6.4), (1.0, 6.2), (0.5, 4.45)])
    assert idle == pytest.approx(2.6, abs=0.05) and cpu == pytest.approx(3.7, abs=0.1)
    with pytest.raises(PowerError):
        fit_linear([(0.0, 2.5), (0.1, 2.7)])


def test_calibrate_samples_an_idle_and_a_busy_phase():
    load = {"busy": False}
    watts = lambda: 6.0 if load["busy"] else 2.0                     # noqa: E731 - a meter stand-in
    idle, cpu = calibrate(watts, start_busy=lambda s: load.update(busy=True),
                          wait_idle=lambda s: load.update(busy=False), seconds=0.4, every_s=0.05)
    assert (idle, cpu) == (pytest.approx(2.0), pytest.approx(4.0))
