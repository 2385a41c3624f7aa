#!/usr/bin/env bash
# Install what sisctl needs on a Debian 12 host; each step is skipped when already done.
set -euo pipefail
cd "$(dirname "$0")/.."

APT_PACKAGES=(qemu-system-arm u-boot-qemu qemu-utils gcc-aarch64-linux-gnu libc6-dev-arm64-cross e2fsprogs cpio victoria-metrics
              socat linux-source bc bison flex libssl-dev libelf-dev make xz-utils openssh-server
              device-tree-compiler ser2net chromium patch qemu-efi-aarch64 dosfstools mtools openssl fdisk)
SUDO=""
[ "$(id -u)" = 0 ] || SUDO="sudo"

missing=()
for pkg in "${APT_PACKAGES[@]}"; do
    dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null | grep -q "ok installed" || missing+=("$pkg")
done
need_update=0
if ! dpkg --print-foreign-architectures | grep -qx arm64; then
    echo "setup: adding the arm64 architecture (for Debian's arm64 kernel and busybox)"
    $SUDO dpkg --add-architecture arm64
    need_update=1
fi
# Read whole before matching: grep -q stopping early would fail apt-cache with SIGPIPE (pipefail).
policy=$(apt-cache policy busybox-static:arm64 2>/dev/null || true)
grep -q "Candidate: [0-9]" <<< "$policy" || need_update=1
# Another apt (a fresh machine's unattended upgrades, a second checkout's set-up) may hold the
# package lock: wait for it rather than fail.
apt_wait=(-o DPkg::Lock::Timeout=900)
if [ "${#missing[@]}" -gt 0 ] || [ "$need_update" = 1 ]; then
    echo "setup: apt-get update"
    $SUDO apt-get "${apt_wait[@]}" update -q
fi
if [ "${#missing[@]}" -gt 0 ]; then
    echo "setup: installing ${missing[*]}"
    $SUDO env DEBIAN_FRONTEND=noninteractive apt-get "${apt_wait[@]}" install -y -q "${missing[@]}"
fi

stamp=.venv/.sisctl-installed
want=$(cat pyproject.toml lab/setup.sh | sha256sum | cut -d' ' -f1)   # redone when either changes
if [ ! -x .venv/bin/python ] || [ "$(cat "$stamp" 2>/dev/null)" != "$want" ]; then
    echo "setup: creating the Python venv in .venv"
    python3 -m venv .venv
    .venv/bin/pip install -q --upgrade pip
    .venv/bin/pip install -q -e ".[test]"
    # pyserial and pyserial-labgrid both ship `serial`: the fork labgrid is tested with goes last
    .venv/bin/pip install -q --no-deps --force-reinstall "pyserial-labgrid>=3.5.0.2,<3.6"
    # Apache Otava's change-point core (bench.history) needs only numpy and scipy, but its wheel pins
    # numpy 2.2 and scipy 1.16 for its CLI's sake; its own analysis tests pass on ours, so no pins
    .venv/bin/pip install -q --no-deps "apache-otava==0.8.0"
    echo "$want" > "$stamp"
fi
