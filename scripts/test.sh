#!/bin/bash
# Install what is missing, build, and run every test: the C unit tests under
# ASan/UBSan, then the integration and security suites (pytest).  Results
# for CI: build/test-results/*.xml (JUnit).
#
# Run as root, or as a user who can sudo: the suites create test users and
# run appbox both as root and as an unprivileged user.
set -euo pipefail
cd "$(dirname "$0")/.."
. scripts/deps.sh

ensure_packages "${BUILD_PACKAGES[@]}" "${TEST_PACKAGES[@]}"

echo ">>> build (build/)"
build_tree build
echo ">>> build with ASan/UBSan (build-asan/)"
build_tree build-asan -Db_sanitize=address,undefined -Db_lundef=false

results=build/test-results
mkdir -p "$results"
rm -f "$results"/*.xml

status=0

echo ">>> C unit tests (ASan/UBSan)"
has_unit=$(meson introspect --tests build-asan | /usr/bin/python3 -c '
import json, sys
tests = json.load(sys.stdin)
print(sum(1 for t in tests if any(s == "unit" or s.endswith(":unit") for s in t["suite"])))')
if [ "$has_unit" -gt 0 ]; then
    ASAN_OPTIONS=detect_leaks=1:abort_on_error=1 UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1 \
        meson test -C build-asan --suite unit --print-errorlogs || status=$?
    cp build-asan/meson-logs/testlog.junit.xml "$results/unit.xml" 2>/dev/null || true
else
    echo "(no unit tests defined yet)"
fi

echo ">>> integration and security tests (pytest)"
pytest_args=(-m pytest tests -v --junitxml="$results/pytest.xml")
if [ "$(id -u)" -eq 0 ]; then
    PYTHONDONTWRITEBYTECODE=1 /usr/bin/python3 "${pytest_args[@]}" "$@" || status=$?
else
    as_root env PYTHONDONTWRITEBYTECODE=1 /usr/bin/python3 "${pytest_args[@]}" "$@" || status=$?
    as_root chown -R "$(id -u):$(id -g)" "$results" || true
fi
[ $status -eq 0 ] && echo ">>> all tests passed" || echo ">>> FAILED (status $status)"
exit $status
