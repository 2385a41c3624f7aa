"""A benchmark boot whose disk does not mount (under -icount a guest-side device wait can time out
early) is booted again before anything is measured; only MOUNT_TRIES failures in a row stop it."""
from contextlib import contextmanager
from types import SimpleNamespace

import pytest

from sisctl.campaign.bench import campaign as bench
from sisctl.campaign.bench.options import BenchConfig
from sisctl.campaign.bench.suite import load_suite


class FakeSession:
    def __init__(self, mounts):
        self.mounts, self.name, self.boot_s, self.machine, self.run_dir = mounts, "b", 0.1, None, "r"

    def run(self, command, timeout_s=60):
        ok = self.mounts.pop(0) if command == bench.MOUNT_SCRIPT else True
        return SimpleNamespace(ok=ok, text="" if ok else "EXT4-fs: error -4 creating inode table initialization thread")

    def guest_cpu_s(self):
        return None   # no emulator to time


def campaign(tmp_path, monkeypatch, mounts: list[bool]):
    boots, measured = [], []

    @contextmanager
    def session(**kwargs):
        boots.append(kwargs["label"])
        yield FakeSession(mounts)
    board = SimpleNamespace(name="b", session=session)
    ctx = SimpleNamespace(board=board, out=tmp_path, progress=lambda _: None, origin={}, records=[])
    monkeypatch.setattr(bench, "make_disk", lambda path, mib: None)
    monkeypatch.setattr(bench.BenchCampaign, "_booted_kernel", lambda self, *a: {})
    monkeypatch.setattr(bench.BenchCampaign, "_measure", lambda self, s, boot, rep, w: measured.append(w.name))
    suite = load_suite("default")
    run = bench.BenchCampaign(ctx, BenchConfig("b", "linux-kbuild", "linux-kbuild", "default"), suite,
                              ["work"], {"work"})
    artifact = SimpleNamespace(build_id="x", sha256="y", manifest={})
    return run, artifact, boots, measured


def test_a_disk_that_does_not_mount_is_booted_again(tmp_path, monkeypatch):
    run, artifact, boots, measured = campaign(tmp_path, monkeypatch, [False, True])
    run._boot(0, "work", 0, "baseline", artifact, tmp_path / "initrd")
    assert len(boots) == 2 and measured   # measured once, on the boot whose disk mounted


def test_three_failed_mounts_in_a_row_stop_the_campaign_as_infrastructure(tmp_path, monkeypatch):
    run, artifact, boots, measured = campaign(tmp_path, monkeypatch, [False] * bench.MOUNT_TRIES)
    with pytest.raises(bench.WorkloadFailed, match=f"{bench.MOUNT_TRIES} boots in a row"):
        run._boot(0, "work", 0, "baseline", artifact, tmp_path / "initrd")
    assert len(boots) == bench.MOUNT_TRIES and not measured
