#!/bin/sh
# Build a minimal root filesystem from busybox-static, for tests and
# benchmarks: every tool gets the same small tree.
# usage: mkroot.sh DIR
set -eu
dir=${1:?usage: mkroot.sh DIR}
bb=$(command -v busybox) || { echo "mkroot.sh: busybox-static is not installed" >&2; exit 1; }
if ! file -L "$bb" 2>/dev/null | grep -q 'statically linked'; then
    # busybox (dynamic) and busybox-static share the path; insist on static
    ldd "$bb" >/dev/null 2>&1 && { echo "mkroot.sh: $bb is not static (install busybox-static)" >&2; exit 1; }
fi
mkdir -p "$dir"
cd "$dir"
mkdir -p bin sbin usr/bin usr/sbin etc proc sys dev tmp run var/tmp root home
chmod 1777 tmp var/tmp
cp "$bb" bin/busybox
for applet in $(./bin/busybox --list); do
    [ -e "bin/$applet" ] || ln -s busybox "bin/$applet"
done
cat > etc/passwd <<'P'
root:x:0:0:root:/root:/bin/sh
nobody:x:65534:65534:nobody:/nonexistent:/bin/false
P
cat > etc/group <<'G'
root:x:0:
tty:x:5:
nogroup:x:65534:
G
printf 'NAME=mkroot\nID=mkroot\n' > etc/os-release
cp etc/os-release usr/os-release 2>/dev/null || true
mkdir -p usr/lib && cp etc/os-release usr/lib/os-release
