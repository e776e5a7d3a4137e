#!/usr/bin/env bash
# Run on the GPU machine from the repo root, with .devbin/ carried along (prepared here by
# scripts/cuda_device_prepare.sh): the CUDA sweep against the reference interpreter, then the
# timed workloads. Extra arguments go to kiln_cuda_check (a sweep file, then a name filter).
set -uo pipefail
cd "$(dirname "$0")/.."
nvidia-smi -L || echo "nvidia-smi failed"
export LD_LIBRARY_PATH="$PWD/.devbin:/usr/local/cuda/lib64:/usr/local/cuda/lib:/usr/local/cuda/targets/x86_64-linux/lib${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}"
if [ ! -x .devbin/kiln_cuda_check ]; then echo ".devbin/kiln_cuda_check missing: run scripts/cuda_device_prepare.sh here first" >&2; exit 3; fi
if [ $# -eq 0 ]; then set -- .devbin/cuda_sweep.txt; fi
.devbin/kiln_cuda_check "$@"
