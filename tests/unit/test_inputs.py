"""Config validation, kernel checks, module order and the initramfs writer, on small real inputs."""
from __future__ import annotations

import gzip
import shutil
import struct
import subprocess
from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal

import pytest

from sisctl import config
from sisctl.board.board import Board
from sisctl.board.errors import BoardError
from sisctl.board.qemu import Disk
from sisctl.board.spec import load_board
from sisctl.board.uboot import gzip_kernel
from sisctl.build.recipe import load_recipe
from sisctl.image.cpio import CpioWriter
from sisctl.image.kernel import GNU_BUILD_ID_NOTE, InvalidKernel, inspect_image
from sisctl.image.modules import ModuleError, ModuleTree


@dataclass
class Inner:
    cmdline: str
    modules: list[str] = field(default_factory=list)


@dataclass
class Outer:
    name: str
    count: int = 1
    mode: Literal["a", "b"] = "a"
    inner: Inner | None = None


@pytest.mark.parametrize("data, key, words", [
    ({"name": "x", "colour": 1}, "colour", "unknown key"),
    ({"count": 2}, "name", "required key is missing"),
    ({"name": "x", "count": "2"}, "count", "expected an integer"),
    ({"name": "x", "count": True}, "count", "expected an integer"),
    ({"name": "x", "mode": "c"}, "mode", "expected one of 'a', 'b'"),
    ({"name": "x", "inner": {"cmdline": 5}}, "inner.cmdline", "expected a string"),
    ({"name": "x", "inner": {"cmdline": "c", "modules": ["a", 3]}}, "inner.modules[1]", "expected a string"),
])
def test_config_errors_name_file_and_key(data, key, words):
    with pytest.raises(config.ConfigError) as caught:
        config.parse(Outer, data, "boards/x.yaml")
    assert caught.value.key == key and words in str(caught.value)
    assert str(caught.value).startswith(f"boards/x.yaml: key '{key}'")


def test_bad_yaml_names_the_line(tmp_path):
    bad = tmp_path / "b.yaml"
    bad.write_text("name: b\nboot: [unclosed\n")
    with pytest.raises(config.ConfigError, match=r"b.yaml: not valid YAML at line \d"):
        load_board(bad)
    bad.write_text("- a list\n")
    with pytest.raises(config.ConfigError, match="mapping"):
        load_board(bad)


def test_board_and_recipe_files(tmp_path):
    board = tmp_path / "b1.yaml"
    board.write_text("name: b1\nboot: {modules: [virtio_blk]}\n")
    spec = load_board(board)
    assert spec.qemu.machine == "virt" and spec.boot.modules == ["virtio_blk"]
    board.write_text("name: other\n")
    with pytest.raises(config.ConfigError, match="must match the file name"):
        load_board(board)
    board.write_text("name: b1\nboot: {method: pi-tryboot, pi: {ssh: {host: pi}}}\nqemu: {firmware: u.bin}\n")
    with pytest.raises(config.ConfigError, match="key 'qemu': pi-tryboot is for real"):
        load_board(board)
    recipe = tmp_path / "r.yaml"
    recipe.write_text("name: r\nkind: kbuild\n")
    assert load_recipe(recipe).kbuild.base_config == "tinyconfig"
    recipe.write_text("name: r\nkind: command\n")
    with pytest.raises(config.ConfigError, match="needs a 'command' section"):
        load_recipe(recipe)
    recipe.write_text("name: r\nkind: debian\nkbuild: {}\n")
    with pytest.raises(config.ConfigError, match="does not belong"):
        load_recipe(recipe)


def test_gzip_kernel_is_kept_by_content(tmp_path):
    image = tmp_path / "Image"
    image.write_bytes(fake_image(b"x" * 100_000))
    packed = gzip_kernel(image, tmp_path / "kernels")
    assert gzip.decompress(packed.read_bytes()) == image.read_bytes()
    assert packed.stat().st_size < image.stat().st_size // 10
    assert gzip_kernel(image, tmp_path / "kernels") == packed      # same kernel: reused
    image.write_bytes(fake_image(b"y" * 100_000))
    assert gzip_kernel(image, tmp_path / "kernels") != packed      # another kernel: another file


def fake_image(extra: bytes = b"") -> bytes:
    header = bytearray(64)
    body = b"Linux version 6.1.0-test (builder@host) #1\n" + extra
    struct.pack_into("<Q", header, 16, 64 + len(body))
    header[56:60] = b"ARM\x64"
    return bytes(header) + body


def test_arm64_image_checks(tmp_path):
    build_id = bytes(range(20))
    image = tmp_path / "Image"
    image.write_bytes(fake_image(GNU_BUILD_ID_NOTE + build_id))
    info = inspect_image(image)
    assert (info.version, info.build_id) == ("6.1.0-test", build_id.hex())
    image.write_bytes(gzip.compress(fake_image()))
    assert inspect_image(image).version == "6.1.0-test"
    for junk in (b"\x7fELF" + bytes(100), bytes(4096), gzip.compress(fake_image())[:40]):
        image.write_bytes(junk)
        with pytest.raises(InvalidKernel):
            inspect_image(image)


@pytest.mark.parametrize("cut", [6, 0x28, 0x3D])
def test_an_elf_header_cut_short_at_the_end_of_the_image_is_no_file(tmp_path, cut):
    image = tmp_path / "Image"
    image.write_bytes(fake_image(b"\x7fELF\x02\x01" + bytes(cut - 6)))
    assert inspect_image(image).version == "6.1.0-test"


def test_a_gzip_bomb_is_refused_without_unpacking_it(tmp_path, monkeypatch):
    """Bounded decompression: at most the limit (+1 byte) is ever held, however far the file expands."""
    import sisctl.image.kernel as kernel
    monkeypatch.setattr(kernel, "MAX_IMAGE_BYTES", 1 << 20)
    image = tmp_path / "Image"
    image.write_bytes(gzip.compress(fake_image(bytes(8 << 20)), compresslevel=1))
    with pytest.raises(InvalidKernel, match="more than 1 MiB once decompressed: not an arm64 kernel Image"):
        inspect_image(image)
    image.write_bytes(fake_image(bytes(2 << 20)))
    with pytest.raises(InvalidKernel, match="more than 1 MiB: not an arm64"):
        inspect_image(image)


def test_an_image_without_a_version_banner_gets_a_manifest_without_modules(tmp_path):
    from sisctl.build.artifact import write_manifest
    (tmp_path / "Image").write_bytes(fake_image().replace(b"Linux version", b"Lunix varsion"))
    artifact = write_manifest(tmp_path, {"name": "x"}, "key", None)
    assert artifact.manifest["kernel_release"] is None and artifact.manifest["modules"] == 0


def test_build_id_inside_an_embedded_vdso_is_skipped(tmp_path):
    vdso = bytearray(256)
    vdso[:6] = b"\x7fELF\x02\x01"
    struct.pack_into("<Q", vdso, 0x28, 128)          # section headers at 128..
    struct.pack_into("<HH", vdso, 0x3A, 64, 2)       # ..two of 64 bytes: the ELF ends at 256
    vdso[100:100 + 36] = GNU_BUILD_ID_NOTE + b"\xaa" * 20
    image = tmp_path / "Image"
    image.write_bytes(fake_image(bytes(vdso) + GNU_BUILD_ID_NOTE + b"\xbb" * 20))
    assert inspect_image(image).build_id == "bb" * 20


needs_cross = pytest.mark.skipif(not shutil.which("aarch64-linux-gnu-gcc"), reason="no cross compiler")


def module(folder: Path, name: str, depends: str) -> None:
    source = folder / f"{name}.c"
    source.write_text(f'static const char d[] __attribute__((section(".modinfo"), used)) = "depends={depends}";\n'
                      'static const char v[] __attribute__((section(".modinfo"), used)) = "vermagic=6.1.0 SMP";\n')
    subprocess.run(["aarch64-linux-gnu-gcc", "-c", "-o", folder / f"{name}.ko", source], check=True)


@needs_cross
def test_modules_load_dependencies_first(tmp_path):
    tree = tmp_path / "6.1.0"
    (tree / "kernel").mkdir(parents=True)
    module(tree / "kernel", "virtio_ring", "")
    module(tree / "kernel", "virtio", "virtio_ring")
    module(tree / "kernel", "virtio_blk", "virtio,virtio_ring,crc-t10dif")
    module(tree / "kernel", "virtio_pci", "virtio,virtio_ring")
    (tree / "modules.builtin").write_text("kernel/lib/crc-t10dif.ko\n")
    order = [m.name for m in ModuleTree(tree).load_order(["virtio_blk", "virtio_pci"])]
    assert order == ["virtio_ring", "virtio", "virtio_blk", "virtio_pci"]
    with pytest.raises(ModuleError, match="nope"):
        ModuleTree(tree).load_order(["nope"])
    module(tree / "kernel", "virtio_ring", "virtio_blk")    # a cycle
    with pytest.raises(ModuleError, match="cycle"):
        ModuleTree(tree).load_order(["virtio_blk"])
    assert ModuleTree(tmp_path / "empty").load_order(["anything"]) == []


def test_initramfs_is_a_valid_newc_archive(tmp_path):
    archive = tmp_path / "initramfs.cpio.gz"
    with CpioWriter(archive) as cpio:
        cpio.directory("bin")
        cpio.file("bin/hello", b"#!/bin/sh\necho hi\n", 0o755)
        cpio.symlink("bin/sh", "busybox")
        cpio.char_device("dev-console", 5, 1)
    raw = gzip.decompress(archive.read_bytes())
    listing = subprocess.run(["cpio", "-it"], input=raw, capture_output=True, check=True).stdout.decode()
    assert listing.split() == ["bin", "bin/hello", "bin/sh", "dev-console"]
    out = tmp_path / "x"
    out.mkdir()
    subprocess.run(["cpio", "-id", "--no-absolute-filenames"], input=raw, cwd=out, capture_output=True)
    assert (out / "bin/hello").read_bytes() == b"#!/bin/sh\necho hi\n"
    assert (out / "bin/hello").stat().st_mode & 0o777 == 0o755
    assert (out / "bin/sh").readlink() == Path("busybox")


def test_a_real_board_refuses_campaign_disks_before_touching_anything(tmp_path):
    path = tmp_path / "uboot-x.yaml"
    path.write_text("name: uboot-x\nconsole: {url: /dev/ttyUSB7}\npower: {model: manual}\nboot: {method: uboot}\n")
    board = Board(load_board(path), state_root=tmp_path / "state", reports=tmp_path)
    with pytest.raises(BoardError, match="uboot-x: extra disks .* exist only on QEMU boards"):
        with board.session(disks=[Disk("work", tmp_path / "work.img")]):
            pass
    assert not (tmp_path / "runs").exists()
