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
say "the locked-down session: the unit's cage + kiosk on a headless output, and screenshots"
unit=/lib/systemd/system/enroll-kiosk.service
session_user=$(sed -n 's/^User=//p' "$unit")
exec_start=$(sed -n 's/^ExecStart=//p' "$unit")
unit_env=$(sed -n 's/^Environment=//p' "$unit" | tr '\n' ' ')
[ -n "$session_user" ] && [ -n "$exec_start" ] || fail "the kiosk unit has no User= or ExecStart="
case "$exec_start" in /usr/bin/cage\ *) ;; *) fail "the kiosk unit does not run cage: $exec_start" ;; esac
# Test only: wlroots 0.15 (Debian 12) with the headless backend and its software renderer draws a
# black frame after a fullscreen client's direct scan-out fails its output test, so every
# screenshot of a fullscreen kiosk would be black. Turning the output by 180 degrees (-r -r) rules
# direct scan-out out; grim hands the picture back upright. The unit itself runs unchanged.
session_command=${exec_start/#\/usr\/bin\/cage /\/usr\/bin\/cage -r -r }
shots=target/debian/session
rm -rf "$shots" && mkdir -p "$shots"
conffile=/etc/enroll-kiosk/kiosk.toml
cp "$conffile" "$shots/kiosk.toml.shipped"

# Runs the session for the terminal tier $1 until its first frame is drawn, then takes a
# screenshot ($shots/$1.png) and stops the session.
session_screenshot() {
    local tier=$1 runtime log="$shots/$1.log" pid drawn=""
    sed "s/^tier = .*/tier = \"$tier\"/" "$shots/kiosk.toml.shipped" >"$conffile"
    runtime=$(mktemp -d) && chown "$session_user" "$runtime" && chmod 700 "$runtime"
    # The unit's environment, a runtime directory as PAM would make, and the headless backend.
    # shellcheck disable=SC2086 # the unit's command line and environment are words
    setsid runuser -u "$session_user" -- env -i PATH=/usr/bin:/bin HOME=/var/lib/enroll-kiosk \
        $unit_env XDG_RUNTIME_DIR="$runtime" WLR_BACKENDS=headless WLR_RENDERER=pixman \
        WLR_LIBINPUT_NO_DEVICES=1 $session_command >"$log" 2>&1 </dev/null &
    pid=$!
    for _ in $(seq 1 150); do
        if grep -q "first frame drawn" "$log"; then drawn=yes; break; fi
        kill -0 "$pid" 2>/dev/null || break
        sleep 0.2
    done
    [ -n "$drawn" ] || { cat "$log" >&2; fail "the $tier session drew no frame (log above)"; }
    sleep 1
    runuser -u "$session_user" -- env XDG_RUNTIME_DIR="$runtime" WAYLAND_DISPLAY=wayland-0 \
        grim "$runtime/shot.png" || fail "grim could not capture the $tier session"
    cp "$runtime/shot.png" "$shots/$tier.png"
    kill -TERM -- "-$pid" 2>/dev/null || true
    wait "$pid" 2>/dev/null || true
    pkill -KILL -u "$session_user" 2>/dev/null || true
    rm -rf "$runtime"
}

# Pixels of $1 for which the ImageMagick -fx condition $2 holds.
pixels_where() { convert "$1" -fx "$2" -format '%[fx:round(mean*w*h)]' info:; }

# A screenshot filled by the kiosk: its size, its background in every corner, and text drawn.
check_fullscreen() {
    local shot=$1 size corners ink
    size=$(identify -format '%w %h' "$shot")
    [ "$size" = "1280 720" ] || fail "$shot is $size, not the 1280x720 output"
    corners=$(convert "$shot" -format '%[hex:p{2,2}] %[hex:p{1277,2}] %[hex:p{2,717}] %[hex:p{1277,717}]' info:)
    [ "$corners" = "101418 101418 101418 101418" ] ||
        fail "$shot: the corners are $corners, not the kiosk's background 101418 (not fullscreen, or black)"
    ink=$(pixels_where "$shot" 'r>0.8&&g>0.8&&b>0.8')
    [ "$ink" -gt 3000 ] || fail "$shot: only $ink text pixels, the screen is nearly blank"
}

session_screenshot self-service
check_fullscreen "$shots/self-service.png"
yellow=$(pixels_where "$shots/self-service.png" 'r>0.94&&g>0.745&&b<0.157')
[ "$yellow" -gt 20000 ] ||
    fail "the self-service session does not show the attract screen's yellow Start button ($yellow pixels)"
session_screenshot officer
check_fullscreen "$shots/officer.png"
yellow=$(pixels_where "$shots/officer.png" 'r>0.94&&g>0.745&&b<0.157')
[ "$yellow" -lt 1000 ] || fail "the officer session shows the applicants' Start button ($yellow yellow pixels)"
cp "$shots/kiosk.toml.shipped" "$conffile"
echo "screenshots: $shots/self-service.png (attract screen), $shots/officer.png (officer sign-in)"

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
