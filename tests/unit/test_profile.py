"""Profiles from the agent's report to names, folded stacks, top tables, flame graphs and diffs."""
from __future__ import annotations

import random
import shutil
import subprocess
import sys
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest

from sisctl.profile.diff import diff_profiles, growers, shrinkers
from sisctl.profile.flame import flame_svg
from sisctl.profile.folded import fold, folded_text, read_folded, top_functions
from sisctl.profile.samples import Samples, Stack, parse_samples, profile_command
from sisctl.profile.symbols import Resolver

PROJECT = Path(__file__).resolve().parents[2]
INVOKE = Path(sys.executable).parent / "invoke"

REPORT = """hello from the command
profile ktext ffff800008010000
profile comm 91 sisagent
profile stack 30 91 U
profile stack 60 91 K,ffff8000080b4560,ffff8000080281a0,ffff8000080113bc,U
profile stack 10 91 K,ffff8000080281a0,ffff8000080113bc,U
profile stack 5 12 K,ffff800000a01000
profile sym ffff8000080b4560 __arm64_sys_getppid
profile sym ffff8000080281a0 invoke_syscall
profile sym ffff8000080113bc el0t_64_sync
profile sym ffff800000a01000 virtio_queue_rq [virtio_blk]
profile total 105 0 4 0
profile exit 0
"""


def test_the_agents_report_is_read_and_the_commands_own_stderr_kept():
    samples, rest = parse_samples(REPORT)
    assert rest == "hello from the command\n"
    assert samples.total == samples.counted == 105 and samples.exit_code == 0 and samples.ktext == 0xffff800008010000
    assert samples.kallsyms[0xffff800000a01000] == ("virtio_queue_rq", "virtio_blk")
    assert samples.stacks[1].frames == ["K", 0xffff8000080b4560, 0xffff8000080281a0, 0xffff8000080113bc, "U"]
    assert profile_command("echo 'a b'", 997) == "sisagent profile 997 /bin/sh -c 'echo '\"'\"'a b'\"'\"''"
    assert profile_command("true", 10, "m", 4.5).startswith("SISAGENT_PROFILE_MARK=m SISAGENT_PROFILE_SECONDS=4.5 ")
    assert parse_samples("profile deadline 4.5\nprofile signal 9\n")[0].deadline_s == 4.5


def test_frames_named_by_number_are_the_sym_lines_in_their_order():
    report = ("profile stack 4 7 K,@1,@0,ffff800008000010,U\nprofile stack 2 7 K,@5\n"
              "profile sym ffff8000080281a0 invoke_syscall\nprofile sym ffff8000080b4560 __arm64_sys_getppid\n"
              "profile stack 1 7 K,@zz\nprofile total 6 0 2 0\nprofile exit 0\n")
    samples, rest = parse_samples(report)
    assert samples.stacks[0].frames == ["K", 0xffff8000080b4560, 0xffff8000080281a0, 0xffff800008000010, "U"]
    assert rest == "profile stack 1 7 K,@zz\n"                  # not the agent's: the command's own line
    resolver = Resolver(samples)
    folded = fold(samples, resolver)
    assert folded[("pid 7", "@5")] == 2 and resolver.unresolved == 2   # a number without its sym line, an address


def test_stacks_fold_root_first_and_the_top_table_counts_self_and_total():
    samples, _ = parse_samples(REPORT)
    folded = fold(samples, Resolver(samples))
    assert folded[("sisagent", "[user]", "el0t_64_sync", "invoke_syscall", "__arm64_sys_getppid")] == 60
    assert folded[("pid 12", "virtio_queue_rq [virtio_blk]")] == 5      # a module's function, a nameless pid
    assert read_folded(folded_text(folded)) == folded
    top = {t["function"]: t for t in top_functions(folded)}
    assert top["__arm64_sys_getppid"]["self"] == 60 and top["invoke_syscall"]["self"] == 10
    assert top["invoke_syscall"]["total"] == 70 and round(top["invoke_syscall"]["total_share"], 3) == round(70 / 105, 3)
    assert "sisagent" not in top                                          # a process is not a function
    assert top_functions(folded)[0]["function"] == "__arm64_sys_getppid"


@pytest.fixture(scope="module")
def vmlinux(tmp_path_factory) -> Path:
    """A small ELF whose functions stand in for a kernel's (host gcc: only the symbol table matters)."""
    if not shutil.which("gcc"):
        pytest.skip("gcc is needed")
    folder = tmp_path_factory.mktemp("elf")
    (folder / "k.c").write_text("void _stext(void) {}\nint spin(int n) { int s = 0; for (int i = 0; i < n; i++) "
                                "s += i * n; return s; }\nint outer(int n) { return spin(n) + 1; }\n")
    subprocess.run(["gcc", "-O1", "-c", "-o", str(folder / "k.o"), str(folder / "k.c")], check=True)
    return folder / "k.o"


def test_vmlinux_names_frames_moved_by_the_kaslr_offset(vmlinux):
    from sisctl.profile.symbols import vmlinux_functions
    funcs = vmlinux_functions(vmlinux)
    spin = funcs.starts[funcs.names.index("spin")]
    for shift in (0, 0x2a00000):                       # KASLR off, then moved by 42 MiB
        samples = Samples(stacks=[Stack(7, 1, ["K", spin + shift + 4])], ktext=funcs.text + shift)
        resolver = Resolver(samples, vmlinux)
        assert resolver.name(spin + shift + 4) == "spin" and resolver.offset == shift
    unknown = Resolver(Samples(ktext=funcs.text), vmlinux)
    assert unknown.name(0xdead0000) == "0xdead0000" and unknown.unresolved == 1


def test_a_functions_source_line_comes_from_dwarf_and_a_vmlinux_without_it_gives_none(vmlinux, tmp_path):
    from sisctl.profile.symbols import add_sources
    source = tmp_path / "kernel" / "sys.c"
    source.parent.mkdir()
    source.write_text("void _stext(void) {}\n\nint spin(int n)\n{\n  int s = 0;\n  for (int i = 0; i < n; i++)\n"
                      "    s += i * n;\n  return s;\n}\n\nint outer(int n) { return spin(n) + 1; }\n")
    elf = tmp_path / "vmlinux"
    subprocess.run(["gcc", "-g", "-O1", "-nostdlib", "-static", "-Wl,-e,_stext", "-o", str(elf), "kernel/sys.c"],
                   check=True, cwd=tmp_path)
    top = [{"function": "spin"}, {"function": "outer"}, {"function": "virtio_queue_rq [virtio_blk]"}]
    assert [t["source"] for t in add_sources(top, elf)] == ["kernel/sys.c:4", "kernel/sys.c:11", ""]
    assert [t["source"] for t in add_sources(top, vmlinux)] == ["", "", ""]       # no DWARF: no line
    assert [t["source"] for t in add_sources(top, None)] == ["", "", ""]


def test_kallsyms_names_come_first_and_name_the_module(vmlinux):
    samples, _ = parse_samples(REPORT)
    resolver = Resolver(samples, vmlinux)
    assert resolver.name(0xffff800000a01000) == "virtio_queue_rq [virtio_blk]" and resolver.source == "kallsyms and vmlinux"


def draw(shares: dict[str, float], n: int, rng: random.Random) -> dict:
    """n samples of one-frame stacks under a process, each function with its share."""
    names, weights = zip(*shares.items())
    counts: dict = {}
    for name in rng.choices(names, weights, k=n):
        counts[("bench", name)] = counts.get(("bench", name), 0) + 1
    return counts


BASE = {"el0_svc_common": 0.3, "invoke_syscall": 0.2, "[user]": 0.4, "__arm64_sys_getppid": 0.02, "other": 0.08}


def test_a_grown_function_is_named_and_what_it_displaced_shrinks():
    rng = random.Random(1)
    grown = dict(BASE, __arm64_sys_getppid=0.5)
    rows = diff_profiles(draw(BASE, 1500, rng), draw(grown, 1500, rng))
    assert growers(rows)[0]["function"] == "__arm64_sys_getppid"
    assert {r["function"] for r in shrinkers(rows)} >= {"[user]"}


def test_an_a_a_pair_names_nothing_across_many_draws():
    rng = random.Random(2)
    named = [r["function"] for _ in range(40) for r in growers(diff_profiles(draw(BASE, 1200, rng),
                                                                              draw(BASE, 1200, rng)))]
    assert named == []


def test_a_sure_but_tiny_change_is_not_named():
    rows = diff_profiles({("p", "a"): 100000, ("p", "b"): 900000}, {("p", "a"): 104000, ("p", "b"): 896000})
    [a] = [r for r in rows if r["function"] == "a"]
    assert a["p_value"] < 1e-6 and not a["significant"]      # 0.4 percentage points: sure, but not worth naming


def test_the_flame_graph_is_one_svg_with_a_frame_per_function_and_escaped_names():
    folded = {("bench", "[user]"): 30, ("bench", "el0_svc", "<getppid>"): 70}
    svg = flame_svg(folded, "a & b")
    root = ET.fromstring(svg)
    frames = {g.get("data-n"): float(g.get("data-w")) for g in root.iter("{http://www.w3.org/2000/svg}g")}
    assert frames == {"all": 1.0, "bench": 1.0, "[user]": 0.3, "el0_svc": 0.7, "<getppid>": 0.7}
    assert "&lt;getppid&gt;" in svg and "<script>" in svg


@pytest.mark.parametrize("args, says", [
    (["--hz", "0", "--", "true"], "--hz 0"),
    (["--baseline", "linux-kbuild", "--", "true"], "--baseline and --candidate"),
    (["--variant", "no-such-recipe", "--", "true"], "no-such-recipe"),
    ([], "give a command"),
    (["--board", "qemu-virt-seed-standin", "--", "true"], "sampled by sisctl's agent"),
])
def test_bad_profile_requests_are_usage_errors(args, says, tmp_path):
    env = {"PATH": "/usr/bin:/bin", "HOME": str(tmp_path), "SISCTL_STATE": str(tmp_path / "state"),
           "SISCTL_REPORTS": str(tmp_path / "reports"), "SISCTL_CACHE": str(tmp_path / "cache")}
    done = subprocess.run([str(INVOKE), "profile", *args], cwd=PROJECT, capture_output=True, text=True, env=env,
                          timeout=60)
    assert done.returncode == 2 and says in done.stderr, done.stderr
    assert not (tmp_path / "reports").exists()


def test_only_lines_with_the_runs_mark_are_the_agents():
    forged = "profile:0000 stack 999 1 K,ffff800000000000\n"
    real = REPORT.replace("profile ", "profile:abcd ")
    samples, rest = parse_samples(forged + real, "abcd")
    assert samples.counted == 105 and rest == forged + "hello from the command\n"
    assert profile_command("true", 10, "abcd").startswith("SISAGENT_PROFILE_MARK=abcd sisagent profile 10 ")


def test_lines_that_only_look_like_the_agents_stay_the_commands():
    odd = "profile exit early\nprofile total a b c d\nprofile stack 1 2 zz\nprofile frobnicate 1 2\n"
    samples, rest = parse_samples(odd + REPORT)
    assert rest == odd + "hello from the command\n" and samples.counted == 105 and samples.exit_code == 0


class FakeStub:
    """Registers and memory of a stopped vCPU, as kernel_chain reads them."""

    def __init__(self, regs, memory):
        self.regs, self.memory = regs, memory

    def registers(self):
        return self.regs

    def read(self, address, size):
        return self.memory.get(address)


def test_the_host_sampler_walks_frame_records_and_strips_pointer_authentication():
    import struct
    from sisctl.board.gdbstub import kernel_chain
    fp1, fp2 = 0xffff800008e03f00, 0xffff800008e03f40
    signed = 0x5a8f800008012344           # a kernel return address signed: PAC bits above bit 47, bit 55 kept
    memory = {fp1: struct.pack("<QQ", fp2, signed), fp2: struct.pack("<QQ", 0, 0xffff800008011000)}
    assert kernel_chain(FakeStub((fp1, 0xffff800008010000, 0x3c5), memory)) == \
        ["K", 0xffff800008010000, 0xffff800008012340, 0xffff800008010ffc]
    assert kernel_chain(FakeStub((0, 0x400000, 0x0), {})) == ["U"]          # EL0: user code
