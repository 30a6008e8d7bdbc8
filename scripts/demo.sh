#!/bin/bash
# Install what is missing, build, and show what a sandbox on the host view
# sees: who it runs as, its /, its network interfaces and its processes,
# next to the same on the host.  Runs as whoever invokes it, and as root.
# Then a named Debian container, as seed 004 makes one by hand: created with
# figlet, run through its launcher, removed (about a minute the first time,
# in a scratch data directory; --no-debian skips it).
set -euo pipefail
debian=1 sandboxes=1
[ "${1:-}" = --no-debian ] && debian=0
# (internal) the Debian part alone, re-run in a private mount namespace
[ "${1:-}" = --debian-only ] && sandboxes=0
cd "$(dirname "$0")/.."
. scripts/deps.sh

if [ $sandboxes -eq 1 ]; then
    ensure_packages "${BUILD_PACKAGES[@]}" uidmap iproute2 procps mmdebstrap passt
    build_tree build
fi
appbox=$PWD/build/appbox

show() {  # show TITLE [PREFIX...]: the demo, run through PREFIX (sudo, setpriv)
    local title=$1; shift
    echo
    echo "================ $title ================"
    echo "--- on the host: $(ls / | wc -l) entries in /, $(ip -o link | wc -l) network interfaces, $(ps -e --no-headers | wc -l) processes"
    local rc=0
    "$@" "$appbox" sandbox -- /bin/sh -c '
        echo "--- inside the sandbox"
        echo "\$ id";      id
        echo "\$ ls /";    ls -C /
        echo "\$ ip link"; ip link
        echo "\$ ps";      ps -eo pid,ppid,user,comm
        echo "\$ ls -A ~"; ls -A ~; echo "(home: $HOME, empty)"' || rc=$?
    echo "--- appbox exit status: $rc"
}

if [ $sandboxes -eq 0 ]; then
    :
elif [ "$(id -u)" -ne 0 ]; then
    show "as $(id -un) (unprivileged)"
    if sudo -n true 2>/dev/null || [ -t 0 ]; then
        show "as root (via sudo)" sudo
    fi
else
    if [ -n "${SUDO_USER:-}" ] && [ "$SUDO_USER" != root ]; then
        # home must not be needed: run from /
        (cd / && show "as $SUDO_USER (unprivileged)" setpriv --reuid "$SUDO_USER" --regid "$(id -g "$SUDO_USER")" --init-groups --inh-caps=-all)
    fi
    show "as root (container root is not host root)"
fi

# apt's network in the container is pasta's, which opens /dev/net/tun as the
# container's root: Debian's udev makes it 0666.  Where it is not (no udev),
# root runs the Debian part in a private mount namespace with a 0666 node
# over it, which changes nothing on the host.
if [ $debian -eq 1 ] && [ $sandboxes -eq 1 ] && [ "$(stat -L -c %a /dev/net/tun 2>/dev/null)" != 666 ]; then
    debian=0
    if [ "$(id -u)" -eq 0 ]; then
        echo
        echo "(note: /dev/net/tun is not mode 0666 here, as udev would make it: the Debian part runs"
        echo " in a private mount namespace where it is)"
        tundir=$(mktemp -d "${TMPDIR:-/tmp}/appbox-tun.XXXXXX")
        mknod -m 0666 "$tundir/tun" c 10 200
        rc=0
        unshare --mount --propagation private -- bash -c 'mount --bind "$1" /dev/net/tun && exec bash "$0" --debian-only' \
            "$PWD/scripts/demo.sh" "$tundir/tun" || rc=$?
        rm -rf "$tundir"
        exit $rc
    fi
    echo
    echo "(skipping the Debian part: apt's network needs /dev/net/tun usable by every user, mode 0666"
    echo " as Debian's udev makes it; here it is $(stat -L -c %a /dev/net/tun 2>/dev/null || echo missing))"
fi

if [ $debian -eq 1 ]; then
    echo
    echo "================ a named Debian container (seed 004) ================"
    scratch=$(mktemp -d "${TMPDIR:-/tmp}/appbox-demo.XXXXXX")
    # (set -e holds in the trap too: each step may fail)
    trap '"$appbox" rm --force figlet >/dev/null 2>&1 || true; rm -rf --one-file-system "$scratch" 2>/dev/null || true' EXIT
    # a scratch store and home: the demo leaves nothing in yours
    export APPBOX_DATA_DIR=$scratch/data APPBOX_RUNTIME_DIR=$scratch/run HOME=$scratch/home
    export PATH=$HOME/.local/bin:$PATH
    mkdir -p "$HOME"
    set -x
    "$appbox" create figlet --base debian:bookworm --packages figlet --run figlet
    figlet "hello, world!"              # the launcher: starts, runs, stops
    "$appbox" list
    "$appbox" rm figlet
    { set +x; } 2>/dev/null
fi
