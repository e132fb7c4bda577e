#!/usr/bin/env bash
# Fuzzes the pure parsers with cargo-fuzz (libFuzzer + AddressSanitizer) on the stable toolchain:
# RUSTC_BOOTSTRAP=1 lets stable accept the nightly-only flags cargo-fuzz passes. Not part of CI.
#
#   scripts/fuzz.sh [SECONDS] [TARGET ...]    default: 60 s each, every target
#
# Needs `cargo install cargo-fuzz` and a C++ compiler. Crashes land in fuzz/artifacts/<target>/.
set -euo pipefail
cd "$(dirname "$0")/../fuzz"
seconds=${1:-60}
shift || true
targets=("$@")
[ "${#targets[@]}" -gt 0 ] || targets=(sam_frame id_text mrz icao_tlv_dg2 icao_sod)
for target in "${targets[@]}"; do
    log=$(mktemp)
    # fuzz/seeds/<target>/ holds committed seed inputs (e.g. the sample cards' text blocks).
    dirs=("corpus/$target")
    mkdir -p "corpus/$target"
    [ -d "seeds/$target" ] && dirs+=("seeds/$target")
    if RUSTC_BOOTSTRAP=1 cargo fuzz run "$target" "${dirs[@]}" -- -max_total_time="$seconds" -print_final_stats=1 >"$log" 2>&1; then
        echo "$target: $(grep -o 'Done [0-9]* runs in [0-9]* second(s)' "$log"), no crash"
    else
        echo "$target: FAILED, see the crash below"; tail -n 40 "$log"; rm -f "$log"; exit 1
    fi
    rm -f "$log"
done
