#!/usr/bin/env bash
# The Python tools venv (target/reference-venv): tflite2onnx for the set-up conversion of the
# open pack, dlib-bin and ai-edge-litert for the golden-vector tests; pinned by hash in
# scripts/reference/requirements.txt, PyPI only. The kiosk never runs it. Idempotent: an
# existing venv with the pinned versions is kept.
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
echo "== reference venv: making $venv (tflite2onnx, dlib-bin, ai-edge-litert; pinned by hash)"
rm -rf "$venv"
python3 -m venv "$venv"
"$venv/bin/pip" install --quiet --disable-pip-version-check --only-binary=:all: \
    --require-hashes -r "$requirements"
"$venv/bin/python" -c "import dlib, numpy, onnx, tflite2onnx, ai_edge_litert.interpreter"
echo "$want" > "$stamp"
