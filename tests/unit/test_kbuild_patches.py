"""A kbuild patch changes files inside the copied kernel tree only: a name that points out of it
(through '..' or a symbolic link) is refused before any file is touched."""

import pytest

from sisctl.build.kbuild import _patched_files
from sisctl.errors import UsageError


@pytest.fixture
def tree(tmp_path):
    root = tmp_path / "linux"
    (root / "fs").mkdir(parents=True)
    (root / "fs" / "inode.c").write_text("int x;\n")
    victim = tmp_path / "secret"
    victim.write_text("key\n")
    victim.chmod(0o600)
    return root, victim


def patch_naming(tmp_path, name: str):
    patch = tmp_path / "p.patch"
    patch.write_text(f"--- a/{name}\n+++ b/{name}\n@@ -1 +1 @@\n-int x;\n+int y;\n")
    return patch


def test_files_inside_the_tree_are_listed(tree, tmp_path):
    root, _ = tree
    assert _patched_files(patch_naming(tmp_path, "fs/inode.c"), root) == [root / "fs" / "inode.c"]


@pytest.mark.parametrize("name", ["../secret", "fs/../../secret", "link/secret"])
def test_a_name_out_of_the_tree_is_refused_and_nothing_is_touched(tree, tmp_path, name):
    root, victim = tree
    (root / "link").symlink_to(tmp_path)
    before = (victim.stat().st_mtime_ns, victim.stat().st_mode)
    with pytest.raises(UsageError, match="names a file outside the kernel tree"):
        _patched_files(patch_naming(tmp_path, name), root)
    assert (victim.stat().st_mtime_ns, victim.stat().st_mode) == before and victim.read_text() == "key\n"



def test_options_kconfig_dropped_are_bad_input_naming_their_fragment(tmp_path):
    from sisctl.build.kbuild import check_kept
    config = tmp_path / ".config"
    config.write_text("CONFIG_EXT4_FS=y\n# CONFIG_KUNIT is not set\n")
    kept, dropped = tmp_path / "kept.config", tmp_path / "dropped.config"
    kept.write_text("CONFIG_EXT4_FS=y\n# CONFIG_KUNIT is not set\n")
    dropped.write_text("CONFIG_EXT4_FS=y\nCONFIG_NO_SUCH_OPTION=y\n")
    check_kept(config, [kept])
    with pytest.raises(UsageError) as caught:
        check_kept(config, [kept, dropped])
    assert str(caught.value).endswith(f"this kernel): {dropped}: CONFIG_NO_SUCH_OPTION=y (got n)")
