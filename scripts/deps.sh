# Sourced by scripts/*.sh: install Debian/Ubuntu packages that are missing.
#   ensure_packages PKG...   apt-get update + install, only when one is missing

as_root() {
    if [ "$(id -u)" -eq 0 ]; then
        "$@"
    elif command -v sudo >/dev/null 2>&1; then
        sudo "$@"
    else
        echo "$0: need root (or sudo) for: $*" >&2
        return 1
    fi
}

package_installed() {
    [ "$(dpkg-query -W -f='${db:Status-Status}' "$1" 2>/dev/null)" = installed ]
}

ensure_packages() {
    local missing=() p
    for p in "$@"; do
        package_installed "$p" || missing+=("$p")
    done
    [ ${#missing[@]} -eq 0 ] && return 0
    echo ">>> installing: ${missing[*]}"
    as_root env DEBIAN_FRONTEND=noninteractive apt-get update -q
    as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends "${missing[@]}"
}

# What building appbox needs.
BUILD_PACKAGES=(meson ninja-build pkg-config gcc libc6-dev libseccomp-dev libcap-dev libjson-c-dev libarchive-dev)
# What the tests need on top (C unit tests, pytest suites, test users, tools
# the tests run inside the sandbox or on the host to check it).
TEST_PACKAGES=(libcmocka-dev python3-pytest busybox-static uidmap iproute2 procps
               libcap2-bin util-linux passwd file
               mmdebstrap debootstrap zstd xz-utils bzip2 tar passt
               zsh fish)  # the completion scripts are checked in each shell
# What bench/ compares appbox with (not needed by the tests).
BENCH_PACKAGES=(bubblewrap crun runc firejail systemd-container hyperfine)

# meson setup DIR [ARGS...] once, then ninja -C DIR.
build_tree() {
    local dir=$1; shift
    if [ ! -f "$dir/build.ninja" ]; then
        meson setup "$dir" "$@"
    fi
    ninja -C "$dir"
}
