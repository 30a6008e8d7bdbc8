# Sourced by scripts/*.sh: install Debian/Ubuntu packages that are missing.
#   ensure_packages PKG...   apt-get update + install, only when one is missing;
#                            ?PKG: only where the archive has it (see has_candidate)

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

# Whether apt's lists (as they are) have a version of PKG to install.
has_candidate() {
    local c
    c=$(apt-cache policy "$1" 2>/dev/null | awk '/Candidate:/ { print $2 }')
    [ -n "$c" ] && [ "$c" != "(none)" ]
}

ensure_packages() {
    local missing=() optional=() p
    for p in "$@"; do
        case $p in
        \?*) package_installed "${p#\?}" || optional+=("${p#\?}") ;;
        *) package_installed "$p" || missing+=("$p") ;;
        esac
    done
    # An optional package that the lists lack does not make every run
    # update them; one they have is installed with the rest.
    local opt=()
    for p in "${optional[@]}"; do
        has_candidate "$p" && opt+=("$p")
    done
    [ ${#missing[@]} -eq 0 ] && [ ${#opt[@]} -eq 0 ] && return 0
    as_root env DEBIAN_FRONTEND=noninteractive apt-get update -q
    opt=()
    for p in "${optional[@]}"; do
        if has_candidate "$p"; then
            opt+=("$p")
        else
            echo ">>> $p is not in this system's archive: skipped (see README.md)"
        fi
    done
    missing+=("${opt[@]}")
    [ ${#missing[@]} -eq 0 ] && return 0
    echo ">>> installing: ${missing[*]}"
    as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends "${missing[@]}"
}

# What building appbox needs.
BUILD_PACKAGES=(meson ninja-build pkg-config gcc libc6-dev libseccomp-dev libcap-dev libjson-c-dev libarchive-dev
                libsystemd-dev   # sd-bus: a rootless container's delegated cgroup scope (cgroup/scope.c)
                libx11-dev libxext-dev libxau-dev)  # appbox-x11auth (--display x11)
# What the tests need on top (C unit tests, pytest suites, test users, tools
# the tests run inside the sandbox or on the host to check it).
TEST_PACKAGES=(libcmocka-dev python3-pytest busybox-static uidmap iproute2 procps
               libcap2-bin util-linux passwd file
               mmdebstrap debootstrap zstd xz-utils bzip2 tar passt
               zsh fish   # the completion scripts are checked in each shell
               pulseaudio pulseaudio-utils   # test_sound.py: a real server, paplay and parec
               pipewire pipewire-bin pipewire-pulse   # test_sound.py: PipeWire, native and pulse
               xvfb xserver-xephyr weston wayland-utils x11-utils x11-apps xauth   # --display
               fontconfig fonts-dejavu-core   # test_desktop_files.py: fc-list finds a home font
               dnsmasq-base curl   # tests/integration/netlab.py: the lab internet's DNS, the client
               nftables   # --network nat as root, proxy: /usr/sbin/nft (their rules; test_nat.py, test_proxy.py)
               slirp4netns   # test_nat_user.py: --network nat as a user where pasta is missing
               systemd   # test_boot.py: systemd-analyze verify on appbox unit's units
               qemu-system-x86   # test_cgroup_v2_vm.py: scripts/vm/run (busybox-static: its initramfs)
               podman catatonit runc containerd   # test_oci_*.py: the OCI runtime's real clients (catatonit: rootless podman's pause process), runc to check the tests against
               '?ubuntu-keyring')  # ubuntu: bases (not in Debian 12's archive)
# What bench/ compares appbox with (not needed by the tests).
BENCH_PACKAGES=(bubblewrap crun runc firejail systemd-container hyperfine
                iperf3 socat passt   # bench/network (passt: pasta)
                podman)   # bench/oci: podman run --rm with each runtime

# meson setup DIR [ARGS...] once, then ninja -C DIR.
build_tree() {
    local dir=$1; shift
    if [ ! -f "$dir/build.ninja" ]; then
        meson setup "$dir" "$@"
    fi
    ninja -C "$dir"
}
