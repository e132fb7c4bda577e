#!/usr/bin/env bash
# The standing fault suite (not in CI; CI runs each case's short version). Everything at once, for
# as long as it is told, then one summary table; exits 1 if any case broke a promise.
#
#   scripts/soak.sh --hours N [--terminals 20] [--no-fuzz]
#
# Lanes, all running at the same time until the time is up:
#   fleet    tests/kiosk/fleet_soak.rs for the whole run: N terminals (kiosk enroll + kiosk sync)
#            against two registry serve --issue instances on PostgreSQL; instance kills, PostgreSQL
#            crashes, a verifier checking tokens; invariants and resident memory checked at the end
#   power    tests/kiosk/power_cut.rs again and again: power cuts under the outbox and under the
#            registry's SQLite store (powercut-fs)
#   network  tests/kiosk/net_faults.rs again and again: partitions, 30 % loss spans, registry
#            restarts between network namespaces
#   postgres tests/kiosk/pg_crash.rs again and again: PostgreSQL SIGKILLed under two instances
#   disk     tests/kiosk/disk_full.rs and clock_jumps.rs again and again
#   fuzz     scripts/fuzz.sh with the time shared among the targets (at low priority)
#
# Every lane's output is kept in target/soak/<start time>/. Needs root (namespaces, FUSE, mount),
# scripts/setup.sh done, and cargo-fuzz for the fuzz lane.
set -euo pipefail
cd "$(dirname "$0")/.."

hours=2
terminals=20
fuzz=1
while [ $# -gt 0 ]; do
    case "$1" in
        --hours) hours=$2; shift 2 ;;
        --terminals) terminals=$2; shift 2 ;;
        --no-fuzz) fuzz=0; shift ;;
        *) echo "usage: scripts/soak.sh --hours N [--terminals N] [--no-fuzz]" >&2; exit 2 ;;
    esac
done
total_s=$(awk -v h="$hours" 'BEGIN { printf "%d", h * 3600 }')
if [ "$total_s" -lt 120 ]; then
    echo "--hours must be at least 0.034 (two minutes)" >&2
    exit 2
fi
out="target/soak/$(date -u +%Y%m%dT%H%M%SZ)"
mkdir -p "$out"
echo "soak: ${hours} h, ${terminals} terminals, output in $out"

# One build for every lane.
cargo build --release --workspace --bins --tests --quiet
deadline=$((SECONDS + total_s))

run_tests() { # FILTER: one nextest run of the filter, its output appended to the lane's log
    cargo nextest run --release --workspace --cargo-quiet --profile fault-soak --no-capture \
        --no-fail-fast -E "$1" 2>&1
}

lane() { # NAME FILTER [ENV...]: runs FILTER until the deadline, counting runs and failures
    local name=$1 filter=$2
    shift 2
    local runs=0 failures=0
    while [ "$SECONDS" -lt "$deadline" ]; do
        runs=$((runs + 1))
        if ! env "$@" bash -c "$(declare -f run_tests); run_tests '$filter'" >>"$out/$name.log"; then
            failures=$((failures + 1))
            echo "$name: run $runs FAILED (see $out/$name.log)" >&2
        fi
    done
    echo "$runs $failures" >"$out/$name.result"
}

pids=()
# The fleet runs once for the whole time, leaving ten minutes for it to drain and check.
fleet_s=$((total_s > 1200 ? total_s - 600 : total_s / 2))
(
    if SOAK_SECONDS=$fleet_s SOAK_TERMINALS=$terminals SOAK_LOG_DIR="$PWD/$out/fleet-logs" \
        bash -c "$(declare -f run_tests); run_tests 'test(/fleet_soak::/)'" >"$out/fleet.log"; then
        echo "1 0" >"$out/fleet.result"
    else
        echo "1 1" >"$out/fleet.result"
    fi
) &
pids+=($!)
lane power 'test(/power_cut::/)' POWER_CUTS=25 REGISTRY_POWER_CUTS=10 &
pids+=($!)
lane network 'test(/net_faults::/)' NET_FAULTS=40 &
pids+=($!)
lane postgres 'test(/pg_crash::/)' PG_CRASHES=10 &
pids+=($!)
lane disk 'test(/disk_full::/) | test(/clock_jumps::/)' &
pids+=($!)
if [ "$fuzz" -eq 1 ]; then
    targets=$(sed -n 's/^name = "\(.*\)"$/\1/p' fuzz/Cargo.toml | grep -vc '^enroll-kiosk-fuzz$')
    (
        # The ASan build comes first (long the first time); the rest of the time is shared.
        (cd fuzz && RUSTC_BOOTSTRAP=1 nice -n 10 cargo fuzz build -O >/dev/null 2>&1) || true
        left=$((deadline - SECONDS))
        per_target=$((left / targets))
        if [ "$per_target" -ge 10 ] && nice -n 10 scripts/fuzz.sh "$per_target" >"$out/fuzz.log" 2>&1; then
            echo "1 0" >"$out/fuzz.result"
        elif [ "$per_target" -lt 10 ]; then
            echo "0 0" >"$out/fuzz.result"
        else
            echo "1 1" >"$out/fuzz.result"
        fi
    ) &
    pids+=($!)
fi
failed=0
for pid in "${pids[@]}"; do
    wait "$pid" || failed=1
done

# --- The summary ---------------------------------------------------------------------------
sum() { # LOG REGEX: the sum of the first number each matching line holds after REGEX
    { grep -oE "$2" "$out/$1.log" 2>/dev/null || true; } | grep -oE '^[^0-9]*[0-9]+' | grep -oE '[0-9]+$' \
        | awk '{ s += $1 } END { print s + 0 }'
}
result() { cat "$out/$1.result" 2>/dev/null || echo "0 1"; }
printf '\n| lane | runs | failed | what it did |\n|---|---|---|---|\n'
read -r runs fails < <(result fleet)
fleet_line=$(grep -E '^\| records committed' "$out/fleet.log" | head -1 | sed 's/^| //; s/ |$//; s/ | /: /' || true)
kills=$(grep -E '^\| registry instance kills' "$out/fleet.log" | head -1 | sed 's/^| //; s/ |$//; s/ | /: /' || true)
echo "| fleet ($terminals terminals) | $runs | $fails | ${fleet_line:-no summary}; ${kills:-} |"
read -r runs fails < <(result power)
echo "| power cuts | $runs | $fails | $(sum power 'outbox: [0-9]+ cuts') under the outbox, $(sum power 'registry: [0-9]+ cuts') under the registry |"
read -r runs fails < <(result network)
echo "| network | $runs | $fails | $(sum network '[0-9]+ partitions') partitions, $(sum network '[0-9]+ spans of 30 % loss') spans of 30 % loss, $(sum network '[0-9]+ registry restarts') registry restarts |"
read -r runs fails < <(result postgres)
echo "| postgresql | $runs | $fails | $(sum postgres '[0-9]+ SIGKILLs') SIGKILLs of PostgreSQL |"
read -r runs fails < <(result disk)
echo "| full disk, clock jumps | $runs | $fails | $(grep -c '^test .* ok$' "$out/disk.log" 2>/dev/null || echo 0) tests passed |"
if [ "$fuzz" -eq 1 ]; then
    read -r runs fails < <(result fuzz)
    echo "| fuzzing | $runs | $fails | $(grep -c 'no crash' "$out/fuzz.log" 2>/dev/null || echo 0) targets without a crash |"
fi
grep -E '^\| RSS' "$out/fleet.log" | sort -t'(' -k2 -g -r | head -3 || true
total_fails=$(cat "$out"/*.result 2>/dev/null | awk '{ s += $2 } END { print s + 0 }')
if [ "$failed" -ne 0 ] || [ "$total_fails" -ne 0 ]; then
    echo "soak: FAILED ($total_fails failed runs; logs in $out)" >&2
    exit 1
fi
echo "soak: every promise kept (logs in $out)"
