#!/usr/bin/env bash
# Prints the path of the SeetaFace model inside the rustface crate source cargo fetched (both
# packs carry a copy; each checks it against its own SHA256SUMS).
set -euo pipefail
cd "$(dirname "$0")/.."
manifest=$(cargo metadata --format-version 1 --locked 2>/dev/null \
    | grep -o '"manifest_path":"[^"]*/rustface-[0-9.]*/Cargo.toml"' | head -n 1 | cut -d'"' -f4)
if [ -z "$manifest" ]; then
    echo "could not find the rustface crate with cargo metadata (is the network to crates.io up?)" >&2
    exit 1
fi
echo "$(dirname "$manifest")/model/seeta_fd_frontal_v1.0.bin"
