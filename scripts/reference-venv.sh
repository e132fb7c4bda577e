#!/usr/bin/env bash
# The test-time Python venv of reference implementations (target/reference-venv): dlib-bin and
# numpy, pinned by hash in scripts/reference/requirements.txt, from PyPI only. The golden-vector
# tests run them; the kiosk never does. Idempotent: an existing venv with the pinned versions is
# kept.
set -euo pipefail
cd "$(dirname "$0")/.."
venv=target/reference-venv
requirements=scripts/reference/requirements.txt
stamp="$venv/.requirements.sha256"
want=$(sha256sum "$requirements" | cut -d' ' -f1)
if [ -x "$venv/bin/python" ] && [ "$(cat "$stamp" 2>/dev/null)" = "$want" ]; then
    echo "== reference venv: present ($venv)"
    exit 0
fi
echo "== reference venv: making $venv (dlib-bin, numpy; pinned by hash)"
rm -rf "$venv"
python3 -m venv "$venv"
"$venv/bin/pip" install --quiet --disable-pip-version-check --only-binary=:all: \
    --require-hashes -r "$requirements"
"$venv/bin/python" -c "import dlib, numpy" 
echo "$want" > "$stamp"
