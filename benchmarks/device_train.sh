#!/usr/bin/env bash
# How the LoRA heads were trained on a lent GPU machine (no network there, no PyPI).
# It carries, under the git-ignored .dev/: a float16 copy of the embedded encoder's weights
# (the float32 file is over the transfer limit), seqeval's source, and a copy of ../shared/data.
# The heads record the exact embedded encoder's identity; benchmarks/accuracy.py --update then
# re-measures every validation metric on the CPU with the exact float32 encoder.
set -uo pipefail
export PYTHONPATH=$PWD/.dev FTCLF_DATA=$PWD/.dev/data FTCLF_CACHE=/tmp/ftc HF_HUB_OFFLINE=1 PYTHONUNBUFFERED=1 TQDM_DISABLE=1
OUT=${OUT:-/tmp/out}; mkdir -p "$OUT"
python3 - <<'PY'
import os, shutil, torch, transformers, peft
from safetensors.torch import load_file, save_file
os.makedirs("/tmp/minilm", exist_ok=True)
sd = load_file(".dev/minilm/model_fp16.safetensors")
save_file({k: (v.float() if v.is_floating_point() else v).contiguous() for k, v in sd.items()}, "/tmp/minilm/model.safetensors")
for f in os.listdir(".dev/minilm"):
    if not f.startswith("model"):
        shutil.copy(f".dev/minilm/{f}", f"/tmp/minilm/{f}")
print("torch", torch.__version__, "transformers", transformers.__version__, "peft", peft.__version__, torch.cuda.get_device_name(0))
PY
FP=${FTCLF_ENCODER_FINGERPRINT:?set to the embedded encoder fingerprint}
# A quick end-to-end check first, so that a broken environment costs seconds, not the lease.
timeout 120 python3 benchmarks/train_heads.py paraphrase-mrpc conll-lora-crf-shape --smoke 32 --jobs 2 --threads 2 \
  --encoder /tmp/minilm --record-encoder "x=0" --out /tmp/smoke > "$OUT/smoke.txt" 2>&1 \
  || { cat "$OUT/smoke.txt"; tail -n 30 /tmp/smoke/*.log; exit 3; }
timeout "${TRAIN_LIMIT:-480}" python3 benchmarks/train_heads.py "$@" --jobs "${JOBS:-10}" --threads 1 \
  --encoder /tmp/minilm --record-encoder "sentence-transformers/all-MiniLM-L6-v2=$FP" --out /tmp/heads 2>&1 | tee "$OUT/train.txt"
cd /tmp/heads && for group in sst2 mrpc sick conll; do
  ls -d ${group}* >/dev/null 2>&1 && tar cf "$OUT/$group.tar" ${group}*
done
tar czf "$OUT/logs.tgz" *.log *.json 2>/dev/null; ls -la "$OUT"
