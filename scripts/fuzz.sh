#!/usr/bin/env bash
# Fuzzes every parser that reads bytes from outside with cargo-fuzz (libFuzzer + AddressSanitizer)
# on the stable toolchain (RUSTC_BOOTSTRAP=1 lets stable accept the nightly-only flags cargo-fuzz
# passes). Not part of CI: CI replays what this keeps (tests/kiosk/fuzz_corpus.rs).
#
#   scripts/fuzz.sh [SECONDS] [TARGET ...]    default: 60 s each, every target in fuzz/Cargo.toml
#
# Each target starts from fuzz/seeds/<target>/ (well-formed instances, committed) and
# fuzz/corpus/<target>/ (committed). After the run the corpus is minimised (cargo fuzz cmin), so
# what is committed stays small. A crash's input is copied into the corpus as crash-<hash>, so the
# replay test fails until the parser is fixed, and the script stops with the crash's report.
#
# Needs `cargo install cargo-fuzz --locked` and a C++ compiler (scripts/setup.sh installs
# build-essential).
set -euo pipefail
cd "$(dirname "$0")/../fuzz"
command -v cargo-fuzz >/dev/null || { echo "cargo-fuzz is missing: cargo install cargo-fuzz --locked" >&2; exit 1; }
seconds=${1:-60}
shift || true
targets=("$@")
if [ "${#targets[@]}" -eq 0 ]; then
    mapfile -t targets < <(sed -n 's/^name = "\(.*\)"$/\1/p' Cargo.toml | grep -v '^enroll-kiosk-fuzz$')
fi
export RUSTC_BOOTSTRAP=1
for target in "${targets[@]}"; do
    log=$(mktemp)
    dirs=("corpus/$target")
    mkdir -p "corpus/$target"
    [ -d "seeds/$target" ] && dirs+=("seeds/$target")
    if cargo fuzz run -O "$target" "${dirs[@]}" -- -max_total_time="$seconds" -print_final_stats=1 >"$log" 2>&1; then
        echo "$target: $(grep -o 'Done [0-9]* runs in [0-9]* second(s)' "$log"), no crash"
    else
        echo "$target: CRASH, report below"
        tail -n 60 "$log"
        for crash in artifacts/"$target"/crash-* artifacts/"$target"/oom-* artifacts/"$target"/timeout-*; do
            [ -e "$crash" ] && cp "$crash" "corpus/$target/" && echo "kept $crash in corpus/$target/ (the replay test fails until it is fixed)"
        done
        rm -f "$log"
        exit 1
    fi
    rm -f "$log"
    # Keep the corpus small: only inputs that add coverage.
    cargo fuzz cmin -O "$target" "corpus/$target" >/dev/null 2>&1 || echo "$target: cmin failed, the corpus is kept unminimised"
    echo "$target: corpus $(find "corpus/$target" -type f | wc -l) files"
done
