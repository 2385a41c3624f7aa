"""A job that booted kernels of its own says which on its page, next to the board's flashed one."""
from sisctl.report.jobpage import booted_lines, write_job_page


def test_a_benchmark_names_both_sides_and_ktap_its_kernel(tmp_path):
    sides = {"baseline": {"variant": "linux-kbuild", "kernel_version": "6.1.192", "build_id": "aaaa" * 10},
             "candidate": {"variant": "linux-kbuild+mitigations=off", "kernel_version": "6.1.192",
                           "build_id": "bbbb" * 10}}
    assert booted_lines({"sides": sides}) == {
        "baseline kernel": "linux-kbuild 6.1.192 (build id aaaaaaaaaaaa)",
        "candidate kernel": "linux-kbuild+mitigations=off 6.1.192 (build id bbbbbbbbbbbb)"}
    assert booted_lines({"variant": "linux-kbuild-kunit", "kernel_version": "6.1.192", "build_id": "c" * 40}) == \
        {"booted kernel": "linux-kbuild-kunit 6.1.192 (build id cccccccccccc)"}
    assert booted_lines({}) == {}
    summary = {"kind": "bench", "board": "qemu-virt-0", "status": "passed", "provenance": {"kernel_version": "6.1.1"},
               "booted": {"sides": sides}}
    write_job_page(tmp_path, summary)
    page = (tmp_path / "index.html").read_text()
    assert "baseline kernel" in page and "linux-kbuild+mitigations=off 6.1.192" in page
