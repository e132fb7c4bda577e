#!/usr/bin/env bash
# What CI runs, and what a developer runs before pushing: formatting, lints, and the whole test
# suite in the release profile that scripts/setup.sh builds (so CI compiles it once), including the
# GUI tests in a real X window under Xvfb.
set -euo pipefail
cd "$(dirname "$0")/.."

echo "== cargo fmt --check"
cargo fmt --check

echo "== cargo clippy --all-targets -- -D warnings"
cargo clippy --locked --all-targets -- -D warnings

echo "== tests (release profile)"
cargo nextest run --locked --release --no-fail-fast
