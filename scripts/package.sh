#!/usr/bin/env bash
# Builds the two Debian packages into target/debian/ from release binaries:
#   enroll-kiosk     the production `kiosk` (built without the `demo` feature: no emulators), the
#                    default model pack with its provenance and licences, /etc/enroll-kiosk/kiosk.toml
#                    (conffile), the locked-down cage session unit, the system user (postinst)
#   enroll-registry  `registry` and `idverify`, the hardened unit, /etc/default/enroll-registry
# The registry binaries are the release builds already there (scripts/test.sh built them; they are
# built when missing). The production kiosk is built into the shared release directory and copied
# out, and the demo kiosk that was there is put back as it was (no second build). Needs
# scripts/setup.sh first (the model pack). Usage: scripts/package.sh
set -euo pipefail
cd "$(dirname "$0")/.."

say() { echo "== package: $*"; }
version=$(sed -n 's/^version = "\(.*\)"/\1/p' Cargo.toml | head -n1)
debian_version="$version-1"
arch=$(dpkg --print-architecture)
out=target/debian
rm -rf "$out"
mkdir -p "$out"

pack=assets/models/packs/open
# The wheels the files came from are not kept; every file that is there must be the pinned one.
(cd "$pack" && sha256sum --quiet --ignore-missing -c SHA256SUMS && [ -e dlib_face_recognition_resnet_model_v1.dat ]) || {
    echo "the open model pack is incomplete or altered ($pack): run scripts/setup.sh" >&2
    exit 1
}

for binary in kiosk registry idverify; do
    if [ ! -x "target/release/$binary" ]; then
        say "release binaries"
        cargo build --release --locked --workspace --bins
        break
    fi
done
install -m 0755 target/release/kiosk "$out/demo-kiosk"
say "production kiosk (no demo feature)"
cargo build --release --locked -p enroll-kiosk --no-default-features --bin kiosk
install -m 0755 target/release/kiosk "$out/production-kiosk"
# Put the demo kiosk back. Unlink first: the file Cargo left is a hard link to its cached build.
rm -f target/release/kiosk
install -m 0755 "$out/demo-kiosk" target/release/kiosk
rm -f "$out/demo-kiosk"

# shlibs_of BINARY...: the Depends entries of the shared libraries these binaries link.
shlibs_of() {
    local work
    work=$(mktemp -d)
    mkdir -p "$work/debian"
    printf 'Source: enroll-kiosk\n\nPackage: shlibs\nArchitecture: any\n' >"$work/debian/control"
    local abs=()
    for binary in "$@"; do abs+=("-e$(realpath "$binary")"); done
    local depends
    depends=$(cd "$work" && dpkg-shlibdeps -O "${abs[@]}" | sed -n 's/^shlibs:Depends=//p')
    rm -rf "$work"
    [ -n "$depends" ] || { echo "dpkg-shlibdeps found no libraries for $*" >&2; exit 1; }
    echo "$depends"
}

# common ROOT PACKAGE: documentation every package carries.
common() {
    local root=$1 name=$2 doc="$1/usr/share/doc/$2"
    install -d "$doc"
    install -m 0644 "packaging/$name/README.Debian" "$doc/README.Debian"
    install -m 0644 packaging/copyright.in "$doc/copyright"
    printf '%s (%s) unstable; urgency=medium\n\n  * Built from the enroll-kiosk workspace by scripts/package.sh.\n\n -- enroll-kiosk developers <packages@enroll-kiosk.invalid>  %s\n' \
        "$name" "$debian_version" "$(date -R -d @"${SOURCE_DATE_EPOCH:-$(git log -1 --format=%ct 2>/dev/null || date +%s)}")" |
        gzip -9n >"$doc/changelog.Debian.gz"
    chmod 0644 "$doc/changelog.Debian.gz"
    install -d -m 0755 "$root/DEBIAN"
    for script in postinst prerm postrm; do
        install -m 0755 "packaging/$name/$script" "$root/DEBIAN/$script"
    done
}

# finish ROOT: md5sums and the package file.
finish() {
    local root=$1
    (cd "$root" && find . -type f ! -path './DEBIAN/*' -printf '%P\0' | sort -z | xargs -0 md5sum) >"$root/DEBIAN/md5sums"
    chmod 0644 "$root/DEBIAN/md5sums"
    find "$root" -type d -exec chmod 0755 {} +
    dpkg-deb --root-owner-group -Zxz --build "$root" "$out/" >/dev/null
}

say "enroll-kiosk"
root="$out/enroll-kiosk"
install -D -m 0755 "$out/production-kiosk" "$root/usr/bin/kiosk"
strip --strip-unneeded "$root/usr/bin/kiosk"
models="$root/usr/share/enroll-kiosk/models/packs/open"
install -d "$models/LICENSES"
for file in pack.toml engine.toml SHA256SUMS PROVENANCE.md; do
    install -m 0644 "$pack/$file" "$models/$file"
done
grep -v '^#' "$pack/SHA256SUMS" | awk '{print $2}' | grep -v '\.whl$' | while read -r file; do
    install -D -m 0644 "$pack/$file" "$models/$file"
done
install -m 0644 "$pack"/LICENSES/* "$models/LICENSES/"
install -d "$root/etc/enroll-kiosk"
sed -e 's|^packs_dir = .*|packs_dir = "/usr/share/enroll-kiosk/models/packs"|' \
    -e 's|^# Relative to this file: the source tree.s folder .*|# The packs the enroll-kiosk package installs.|' \
    kiosk-config/kiosk.toml >"$root/etc/enroll-kiosk/kiosk.toml"
chmod 0644 "$root/etc/enroll-kiosk/kiosk.toml"
install -D -m 0644 packaging/enroll-kiosk/enroll-kiosk.service "$root/lib/systemd/system/enroll-kiosk.service"
common "$root" enroll-kiosk
cat packaging/models-copyright.in >>"$root/usr/share/doc/enroll-kiosk/copyright"
echo /etc/enroll-kiosk/kiosk.toml >"$root/DEBIAN/conffiles"
# Loaded at run time (not linked): OpenGL/EGL and the X11 libraries winit opens (the kiosk is an
# X11 client; cage runs it through Xwayland).
runtime="libgl1, libegl1, libgl1-mesa-dri, libx11-6, libxcursor1, libxi6, libxrandr2, libxkbcommon-x11-0"
cat >"$root/DEBIAN/control" <<CONTROL
Package: enroll-kiosk
Version: $debian_version
Architecture: $arch
Maintainer: enroll-kiosk developers <packages@enroll-kiosk.invalid>
Installed-Size: $(du -sk --exclude=DEBIAN "$root" | cut -f1)
Depends: $(shlibs_of "$root/usr/bin/kiosk"), $runtime, adduser, cage, xwayland, pcscd, fonts-wqy-microhei
Section: misc
Priority: optional
Description: identity enrollment terminal
 The kiosk of a police station or a self-service point: reads the identity
 card (SAM serial reader, or an ICAO chip over PC/SC), captures the applicant's
 face and compares it on the device, and keeps a signed, sealed enrollment
 record until the registry has it. Runs fullscreen in a locked-down cage
 session (enroll-kiosk.service).
CONTROL
finish "$root"

say "enroll-registry"
root="$out/enroll-registry"
install -D -m 0755 target/release/registry "$root/usr/bin/registry"
install -D -m 0755 target/release/idverify "$root/usr/bin/idverify"
strip --strip-unneeded "$root/usr/bin/registry" "$root/usr/bin/idverify"
install -D -m 0644 packaging/enroll-registry/enroll-registry.service "$root/lib/systemd/system/enroll-registry.service"
install -D -m 0644 packaging/enroll-registry/default "$root/etc/default/enroll-registry"
common "$root" enroll-registry
echo /etc/default/enroll-registry >"$root/DEBIAN/conffiles"
cat >"$root/DEBIAN/control" <<CONTROL
Package: enroll-registry
Version: $debian_version
Architecture: $arch
Maintainer: enroll-kiosk developers <packages@enroll-kiosk.invalid>
Installed-Size: $(du -sk --exclude=DEBIAN "$root" | cut -f1)
Depends: $(shlibs_of "$root/usr/bin/registry" "$root/usr/bin/idverify"), libgl1, libegl1, libgl1-mesa-dri, libx11-6, libxcursor1, libxi6, libxrandr2, libxkbcommon-x11-0, adduser
Recommends: postgresql
Section: misc
Priority: optional
Description: identity enrollment registry and verifier
 The central registry of the enrollment terminals: stores their signed
 records exactly once, answers with signed receipts, issues virtual IDs, and
 serves the holder page and the officer roster (enroll-registry.service;
 PostgreSQL in production, SQLite without a URL). Also idverify, the
 counter's offline verifier of check-in QR codes.
CONTROL
finish "$root"

rm -f "$out/production-kiosk"
ls -l "$out"/*.deb
