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
# Every run adds a line per target to fuzz/hours.tsv (committed): when, the commit, the target, the
# CPU seconds the fuzzer used (its own, measured, not the wall clock), its executions and whether it
# crashed. The corpus carries what each run learnt into the next, so the hours add up:
#
#   scripts/fuzz.sh --hours                   CPU hours per target so far, from fuzz/hours.tsv
#
# Needs `cargo install cargo-fuzz --locked` and a C++ compiler (scripts/setup.sh installs
# build-essential).
set -euo pipefail
cd "$(dirname "$0")/../fuzz"
ledger=hours.tsv
if [ "${1:-}" = "--hours" ]; then
    awk -F'\t' 'NR > 1 { cpu[$3] += $4; runs[$3] += $5; crashes[$3] += $6 }
        END { printf "| target | CPU hours | executions | crashes |\n|---|---|---|---|\n"
              for (t in cpu) printf "| %s | %.2f | %d | %d |\n", t, cpu[t] / 3600, runs[t], crashes[t] }' "$ledger" \
        | sort
    exit 0
fi
command -v cargo-fuzz >/dev/null || { echo "cargo-fuzz is missing: cargo install cargo-fuzz --locked" >&2; exit 1; }
[ -f "$ledger" ] || printf 'utc\tcommit\ttarget\tcpu_seconds\texecutions\tcrashes\n' >"$ledger"
commit=$(git rev-parse --short HEAD 2>/dev/null || echo unknown)
child_cpu_ticks() { # user + system time of this shell's finished children, in clock ticks
    awk '{ print $16 + $17 }' "/proc/$$/stat"
}
ticks_per_s=$(getconf CLK_TCK)
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
    before=$(child_cpu_ticks)
    crashed=0
    cargo fuzz run -O "$target" "${dirs[@]}" -- -max_total_time="$seconds" -print_final_stats=1 >"$log" 2>&1 \
        || crashed=1
    cpu_s=$((($(child_cpu_ticks) - before) / ticks_per_s))
    executions=$(sed -n 's/^stat::number_of_executed_units: *\([0-9]*\).*/\1/p' "$log" | tail -n 1)
    printf '%s\t%s\t%s\t%s\t%s\t%s\n' "$(date -u +%Y-%m-%dT%H:%M:%SZ)" "$commit" "$target" "$cpu_s" \
        "${executions:-0}" "$crashed" >>"$ledger"
    if [ "$crashed" -eq 0 ]; then
        echo "$target: $(grep -o 'Done [0-9]* runs in [0-9]* second(s)' "$log"), ${cpu_s} CPU s, no crash"
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
