#!/usr/bin/env bash
# aifbench loadgen next to inference-perf and guidellm (both from PyPI, run
# on Python 3.12) on the same simulator in the same run: client CPU per
# request. Installs inference-perf into /var/tmp/aifbench-tools/peers-venv and
# guidellm (which pulls PyTorch, ~6 GB on disk, ~2 minutes here) into
# /var/tmp/aifbench-tools/guidellm-venv the first time, and builds a small
# offline word-level tokenizer for both (no model hub).
#
#   benches/peers.sh                 # ~2 minutes after the install
#   REQUESTS=5000 benches/peers.sh
#   ITL=1ms CONCURRENCIES=1 REQUESTS=600 benches/peers.sh   # slower token pacing
#   ONLY=aifbench,inference-perf benches/peers.sh           # a subset of the rows
#
# At concurrency 1 it also runs examples/stream_floor.rs: one blocking read
# per arrival and nothing else, the kernel's share of any client that
# timestamps every token.
set -euo pipefail
cd "$(dirname "$0")/.."
TOOLS="${AIFB_TOOLS:-/var/tmp/aifbench-tools}"
PY312="${PY312:-$(command -v python3.12 || echo /root/.pyenv/versions/3.12.1/bin/python)}"
if ! "$TOOLS/peers-venv/bin/python" -c 'import inference_perf' 2>/dev/null; then
  "$PY312" -m venv "$TOOLS/peers-venv"
  "$TOOLS/peers-venv/bin/pip" install -q --upgrade pip
  "$TOOLS/peers-venv/bin/pip" install -q inference-perf
fi
if ! "$TOOLS/guidellm-venv/bin/python" -c 'import guidellm' 2>/dev/null; then
  "$PY312" -m venv "$TOOLS/guidellm-venv"
  "$TOOLS/guidellm-venv/bin/pip" install -q --upgrade pip
  "$TOOLS/guidellm-venv/bin/pip" install -q guidellm==0.8.1
fi
if [ ! -f "$TOOLS/word-tokenizer/tokenizer.json" ]; then
  "$TOOLS/peers-venv/bin/python" - "$TOOLS/word-tokenizer" <<'PY'
import sys
from tokenizers import Tokenizer, decoders, models, pre_tokenizers
from transformers import PreTrainedTokenizerFast
words = ["<unk>", "<s>", "</s>"] + [f"w{i}" for i in range(2000)]
t = Tokenizer(models.WordLevel(vocab={w: i for i, w in enumerate(words)}, unk_token="<unk>"))
t.pre_tokenizer = pre_tokenizers.WhitespaceSplit()
t.decoder = decoders.WordPiece(prefix="##")
PreTrainedTokenizerFast(tokenizer_object=t, unk_token="<unk>", bos_token="<s>",
                        eos_token="</s>").save_pretrained(sys.argv[1])
PY
fi
cargo build --release -q --bin aifbench --example stream_floor
TARGET="$(cargo metadata --format-version 1 --no-deps | python3 -c 'import json,sys; print(json.load(sys.stdin)["target_directory"])')"
exec python3 benches/peers_bench.py "$TARGET/release/aifbench" "$TOOLS/peers-venv" "$TOOLS/word-tokenizer" "$TOOLS/guidellm-venv" \
  "$TARGET/release/examples/stream_floor"
