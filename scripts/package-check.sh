#!/usr/bin/env bash
# Installs the packages scripts/package.sh built (as root, with dpkg), checks them as an
# administrator would from /usr/bin, and purges them again, leaving no file behind. CI runs it
# after the tests. Usage: scripts/package-check.sh
set -euo pipefail
cd "$(dirname "$0")/.."

say() { echo "== package check: $*"; }
fail() { echo "package check FAILED: $*" >&2; exit 1; }
kiosk_deb=$(ls target/debian/enroll-kiosk_*.deb)
registry_deb=$(ls target/debian/enroll-registry_*.deb)
[ "$(id -u)" -eq 0 ] || fail "run as root (dpkg -i)"

say "lintian"
if command -v lintian >/dev/null; then
    # Errors fail the check; the remaining warnings are printed (README.md, Packages, says why
    # each is left).
    lintian --tag-display-limit 0 --suppress-tags-from-file packaging/lintian-accepted \
        "$kiosk_deb" "$registry_deb" | tee target/debian/lintian.txt
    ! grep -q '^E:' target/debian/lintian.txt || fail "lintian errors (target/debian/lintian.txt)"
else
    fail "lintian is not installed (scripts/setup.sh installs it)"
fi

say "contents"
listing=$(mktemp -d)
dpkg-deb -c "$kiosk_deb" | awk '{print $6}' | sed 's|^\./|/|' >"$listing/kiosk"
dpkg-deb -c "$registry_deb" | awk '{print $6}' | sed 's|^\./|/|' >"$listing/registry"
for wanted in /usr/bin/kiosk /etc/enroll-kiosk/kiosk.toml /lib/systemd/system/enroll-kiosk.service \
    /usr/share/enroll-kiosk/models/packs/open/PROVENANCE.md \
    /usr/share/enroll-kiosk/models/packs/open/LICENSES/CC0-1.0.txt \
    /usr/share/enroll-kiosk/models/packs/open/LICENSES/Apache-2.0.txt \
    /usr/share/enroll-kiosk/models/packs/open/LICENSES/BSD-2-Clause-SeetaFace.txt \
    /usr/share/enroll-kiosk/models/packs/open/dlib_face_recognition_resnet_model_v1.dat \
    /usr/share/doc/enroll-kiosk/copyright; do
    grep -qx "$wanted" "$listing/kiosk" || fail "enroll-kiosk lacks $wanted"
done
for wanted in /usr/bin/registry /usr/bin/idverify /lib/systemd/system/enroll-registry.service \
    /etc/default/enroll-registry /usr/share/doc/enroll-registry/copyright; do
    grep -qx "$wanted" "$listing/registry" || fail "enroll-registry lacks $wanted"
done
# No simulated device in the production kiosk: texts only the emulators and the file camera hold
# are in the demo build and not in the packaged one.
extract=$(mktemp -d)
dpkg-deb -x "$kiosk_deb" "$extract"
for text in "the simulated camera has no frames" "the emulator did not change its plugged state in time" \
    "sam emulator: cannot create the pty, retrying"; do
    grep -qF "$text" target/release/kiosk || fail "the demo build lacks \"$text\": pick another marker"
    ! grep -qF "$text" "$extract/usr/bin/kiosk" || fail "the packaged kiosk holds \"$text\" (an emulator)"
done
rm -rf "$extract"

say "install"
dpkg -i "$kiosk_deb" "$registry_deb"
/usr/bin/kiosk --version
/usr/bin/kiosk config check /etc/enroll-kiosk/kiosk.toml
/usr/bin/kiosk face packs --config /etc/enroll-kiosk/kiosk.toml | tee "$listing/packs"
grep -E '^open .*complete' "$listing/packs" >/dev/null || fail "the installed open pack is not complete"
/usr/bin/registry --version
/usr/bin/idverify --help >/dev/null
id enroll-kiosk | grep -q '(dialout)' || fail "enroll-kiosk is not in dialout"
[ "$(stat -c '%a %U' /var/lib/enroll-registry)" = "700 enroll-registry" ] || fail "/var/lib/enroll-registry is not the registry's alone"
[ "$(stat -c '%a %U' /var/lib/enroll-kiosk/keys)" = "700 enroll-kiosk" ] || fail "/var/lib/enroll-kiosk/keys is not the kiosk's alone"
say "systemd-analyze verify"
systemd-analyze verify /lib/systemd/system/enroll-kiosk.service /lib/systemd/system/enroll-registry.service

say "purge"
dpkg --purge enroll-kiosk enroll-registry
left=$(cat "$listing/kiosk" "$listing/registry" | grep -v '/$' | while read -r path; do [ ! -e "$path" ] || echo "$path"; done)
[ -z "$left" ] || fail "files left after purge: $left"
for dir in /etc/enroll-kiosk /var/lib/enroll-kiosk /var/lib/enroll-registry /usr/share/enroll-kiosk \
    /usr/share/doc/enroll-kiosk /usr/share/doc/enroll-registry; do
    [ ! -e "$dir" ] || fail "$dir left after purge"
done
rm -rf "$listing"
say "ok"
