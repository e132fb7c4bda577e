#!/usr/bin/env bash
# Benchmarks (never timed tests): whole-process runs and criterion benches, each printing its
# figures and the ratio to the reference its issue names, in one run.
#
#   scripts/bench.sh [startup] ...     default: all of them
#
#   startup  `kiosk run --config kiosk-config/demo.toml` to the first drawn frame, release binary,
#            under Xvfb with a window manager; 10 runs; target (issue 7): <= 1500 ms.
set -euo pipefail
cd "$(dirname "$0")/.."

benches=("$@")
[ "${#benches[@]}" -gt 0 ] || benches=(startup)

cargo build --release --locked --bins >/dev/null 2>&1 || cargo build --release --locked --bins

bench_startup() {
    local runs=10 target_ms=1500 display=":$((200 + RANDOM % 300))" dir
    dir=$(mktemp -d)
    Xvfb "$display" -screen 0 1280x800x24 -nolisten tcp >/dev/null 2>&1 &
    local xvfb=$!
    for _ in $(seq 100); do [ -S "/tmp/.X11-unix/X${display#:}" ] && break; sleep 0.05; done
    DISPLAY=$display matchbox-window-manager -use_titlebar no >/dev/null 2>&1 &
    local wm=$!
    local times=()
    for i in $(seq "$runs"); do
        DISPLAY=$display KIOSK_LOG=info NO_COLOR=1 target/release/kiosk run --config kiosk-config/demo.toml \
            2>"$dir/run$i.log" &
        local kiosk=$!
        for _ in $(seq 300); do grep -q "first frame drawn" "$dir/run$i.log" && break; sleep 0.02; done
        kill "$kiosk" 2>/dev/null; wait "$kiosk" 2>/dev/null || true
        times+=("$(grep -o 'elapsed_ms=[0-9]*' "$dir/run$i.log" | head -n1 | cut -d= -f2)")
    done
    kill "$wm" "$xvfb" 2>/dev/null || true
    rm -rf "$dir"
    printf '%s\n' "${times[@]}" | sort -n | awk -v target="$target_ms" -v runs="$runs" '
        { t[NR] = $1 }
        END {
            median = (NR % 2) ? t[(NR + 1) / 2] : (t[NR / 2] + t[NR / 2 + 1]) / 2
            printf "startup: kiosk run -> first frame, %d runs: min %d ms, median %d ms, max %d ms; target %d ms; ratio %.2f\n",
                runs, t[1], median, t[NR], target, median / target
        }'
}

for bench in "${benches[@]}"; do
    case "$bench" in
        startup) bench_startup ;;
        *) echo "unknown benchmark: $bench (known: startup)" >&2; exit 2 ;;
    esac
done
