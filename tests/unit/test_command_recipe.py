"""A command recipe's own build: a command that fails is a build failure (exit 1) with its log kept;
a program that does not exist, or a workdir that does not, is bad input (exit 2), not a lab problem."""
import pytest

from sisctl.build.builder import build
from sisctl.build.command import BuildFailed
from sisctl.build.recipe import load_recipe
from sisctl.errors import UsageError


def recipe(tmp_path, argv: str, workdir: str | None = None):
    path = tmp_path / "r.yaml"
    path.write_text(f"name: r\nkind: command\ncommand: {{workdir: '{workdir or tmp_path}', argv: {argv}, "
                    "image: Image}\n")
    return load_recipe(path)


def test_a_failing_build_command_is_a_build_failure_with_its_log(tmp_path):
    with pytest.raises(BuildFailed, match=r"failed with exit 3 .*: compiling \| boom") as failed:
        build(recipe(tmp_path, "[sh, -c, 'echo compiling; echo boom >&2; exit 3']"), cache=tmp_path / "cache",
              progress=lambda _: None)
    assert failed.value.exit_code == 1
    log = tmp_path / "cache" / "artifacts" / "last-failed-build.log"
    assert "boom" in log.read_text()


@pytest.mark.parametrize("argv, workdir, problem", [
    ("[no-such-compiler-xyz]", None, "key 'command.argv[0]': 'no-such-compiler-xyz' is not an executable program"),
    ("[./build.sh]", None, "key 'command.argv[0]': './build.sh' is not an executable program (in "),
    ("[make]", "/nonexistent/tree", "key 'command.workdir': '/nonexistent/tree': no such folder"),
])
def test_what_the_recipe_names_must_exist_when_it_is_read(tmp_path, argv, workdir, problem):
    with pytest.raises(UsageError) as caught:
        recipe(tmp_path, argv, workdir)
    assert problem in str(caught.value)


def test_an_inputs_glob_that_matches_nothing_is_refused_not_served_from_the_cache(tmp_path):
    (tmp_path / "src").mkdir()
    (tmp_path / "src" / "main.c").write_text("int main;\n")
    path = tmp_path / "r.yaml"
    path.write_text(f"name: r\nkind: command\ncommand: {{workdir: '{tmp_path}', argv: ['true'], image: Image, "
                    "inputs: ['src/*.c', 'srcs/*.c']}\n")
    with pytest.raises(UsageError, match=r"recipe inputs 'srcs/\*\.c' match no file"):
        build(load_recipe(path), cache=tmp_path / "cache", progress=lambda _: None)


def test_a_tree_in_git_is_recorded_with_commit_describe_and_dirty_flag(tmp_path):
    import subprocess
    from sisctl.build.command import git_source
    from sisctl.report.kcidb import checkout
    assert git_source(tmp_path) is None   # not a git tree
    git = ["git", "-C", str(tmp_path), "-c", "user.name=t", "-c", "user.email=t@t"]
    subprocess.run(["git", "init", "-q", str(tmp_path)], check=True)
    (tmp_path / "Makefile").write_text("all:\n")
    subprocess.run([*git, "add", "Makefile"], check=True)
    subprocess.run([*git, "commit", "-qm", "one"], check=True)
    subprocess.run([*git, "tag", "v6.1-lab1"], check=True)
    clean = git_source(tmp_path)
    assert len(clean["git_commit"]) == 40 and clean["git_describe"] == "v6.1-lab1" and clean["dirty"] is False
    (tmp_path / "Makefile").write_text("all:\n\ttrue\n")
    dirty = git_source(tmp_path)
    assert dirty["dirty"] is True and dirty["git_describe"] == "v6.1-lab1-dirty"
    found = checkout("sisctl:x", {"kernel_version": "6.1.192", "source": dirty})
    assert found["git_commit_hash"] == dirty["git_commit"] and found["git_commit_name"] == "v6.1-lab1-dirty"
    assert found["misc"]["dirty"] is True


def test_a_debian_package_that_does_not_exist_is_bad_input_naming_the_recipe(tmp_path):
    """Asked of the real apt lists, which hold arm64 packages on a set-up machine."""
    path = tmp_path / "nopkg.yaml"
    path.write_text("name: nopkg\nkind: debian\ndebian: {package: linux-image-no-such-flavour}\n")
    with pytest.raises(UsageError) as caught:
        build(load_recipe(path), cache=tmp_path / "cache", progress=lambda _: None)
    assert str(caught.value).startswith(f"{path}: key 'debian.package': Debian has no package "
                                        "linux-image-no-such-flavour:arm64")
