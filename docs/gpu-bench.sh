#!/usr/bin/env bash
# The GPU numbers of the README's performance section, in one call on a CUDA machine:
#   bash docs/gpu-bench.sh OUTDIR            (every step; STEPS="engine training-resnet" for some)
# Each step is bounded by `timeout` and writes its log and CSV to OUTDIR as it goes.
# Needs torch, torchvision, transformers and pandas; Flower and the rest are not imported.
set -u
out=${1:-results/bench-gpu}
steps=${STEPS:-engine training-densenet training-resnet bert-batched bert-loop resnet-10k}
mkdir -p "$out"
export PYTHONPATH=${PYTHONPATH:+$PYTHONPATH:}$PWD PYTHONUNBUFFERED=1
py=${PYTHON:-python3}
{ nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv,noheader
  $py -c "import torch, transformers; print('torch', torch.__version__, 'transformers', transformers.__version__)"
} 2>&1 | tee "$out/machine.txt"
step() {  # name, seconds, bench arguments...
  local name=$1 limit=$2; shift 2
  case " $steps " in *" $name "*) ;; *) return 0 ;; esac
  echo "== $name"
  timeout "$limit" $py -m tracefl.bench --device cuda --threads 0 "$@" 2>&1 | tee "$out/$name.log"
}
# Engine vs the per-input reference, a row per model family (K = 10), at the engine's defaults
# (on CUDA: the K client copies of a BertLayer under 1 M parameters in one vmapped call, larger
# ones one after another).
step engine 240 --models resnet18 densenet121 bert-base gpt-base bert-small gpt-small \
  --sizes 100 1000 --reference-inputs 20 --unchunked resnet18 --csv "$out/engine.csv"
# Paper-scale rounds: 10 clients x 2,048 examples x 2 epochs, batch 32, 32x32 inputs.
step training-densenet 170 --training --models densenet121 --rounds 3 --csv "$out/training-densenet.csv"
step training-resnet 120 --training --models resnet18 --rounds 3 --csv "$out/training-resnet.csv"
# The BERTs with the K client copies in one vmapped call, then one after another.
step bert-batched 80 --models bert-base bert-small --sizes 100 1000 --reference-inputs 0 --unchunked \
  --batch-clients on --csv "$out/bert-batched.csv"
step bert-loop 80 --models bert-base bert-small --sizes 100 1000 --reference-inputs 0 --unchunked \
  --batch-clients off --csv "$out/bert-loop.csv"
# 10,000 inputs of ResNet-18 in chunks of 128.
step resnet-10k 60 --models resnet18 --sizes 10000 --reference-inputs 0 --unchunked --repeats 1 \
  --csv "$out/resnet-10k.csv"
