#!/usr/bin/env bash
# Run on the GPU machine from the repo root, with .gpu/ carried along (scripts/gpu_prepare.sh):
# builds kiln without LLVM (the CPU runs the kernel-IR interpreter), then
#   1. the unit suite on the CPU (the interpreter is the oracle the GPU is checked against),
#   2. the unit suite with KILN_DEVICE=cuda (every op on the GPU),
#   3. kiln_cuda_check: the CUDA sweep against the reference interpreter, and the timed
#      workloads at WORKLOADS.md's GPU sizes beside a device-to-device copy.
# Each step reports and the script goes on; the exit code is the number of failed steps.
set -uo pipefail
cd "$(dirname "$0")/.."
if [ ! -d .gpu/lib/cmake ]; then echo ".gpu/ missing: run scripts/gpu_prepare.sh on the build machine and carry .gpu" >&2; exit 3; fi
nvidia-smi -L || echo "nvidia-smi failed"
export LD_LIBRARY_PATH="$PWD/.gpu/lib:/usr/local/cuda/lib64${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}"
export PATH="/usr/local/cuda/bin:$PATH"
B=build-gpu
start=$SECONDS
cmake -S . -B $B -G Ninja -DCMAKE_BUILD_TYPE=Release -DKILN_LLVM=OFF -DKILN_CUDA=ON \
  -DCMAKE_PREFIX_PATH="$PWD/.gpu" -DZLIB_ROOT="$PWD/.gpu" >$B.configure.log 2>&1 ||
  { tail -30 $B.configure.log; exit 1; }
cmake --build $B -j "$(nproc)" >$B.build.log 2>&1 || { grep -m20 -B2 -A8 "error" $B.build.log; exit 1; }
echo "built in $((SECONDS - start)) s"
failed=0
step() { # name, command...
  local name=$1 t=$SECONDS; shift
  echo "=== $name"
  if "$@"; then echo "=== $name: ok ($((SECONDS - t)) s)"; else echo "=== $name: FAILED ($((SECONDS - t)) s)"; failed=$((failed + 1)); fi
}
step "unit suite, cpu (interpreter)" $B/tests/kiln_tests
step "unit suite, KILN_DEVICE=cuda" env KILN_DEVICE=cuda $B/tests/kiln_tests
$B/tests/cuda_tools/kiln_cuda_sweep $B/cuda_sweep.txt
step "CUDA sweep and workloads" $B/tests/cuda_tools/kiln_cuda_check $B/cuda_sweep.txt
echo "$failed step(s) failed, $((SECONDS - start)) s in all"
exit $failed
