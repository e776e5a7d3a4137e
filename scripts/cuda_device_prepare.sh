#!/usr/bin/env bash
# Run HERE (the build machine): builds kiln_cuda_check and the sweep's graph text, and puts them
# with the small shared libraries they need (libfmt; not libLLVM, not libnvrtc: the GPU machine has
# CUDA 13) into .devbin/, which scripts/cuda_device_check.sh runs on a GPU machine.
set -euo pipefail
cd "$(dirname "$0")/.."
BUILD=${BUILD:-build}
nice cmake --build "$BUILD" -j2 --target kiln_cuda_check kiln_cuda_sweep
rm -rf .devbin && mkdir -p .devbin
cp "$BUILD/codegen/cuda/tools/kiln_cuda_check" .devbin/
"$BUILD/codegen/cuda/tools/kiln_cuda_sweep" .devbin/cuda_sweep.txt
# Every shared library the binary needs that is not part of glibc/libstdc++ or CUDA.
ldd .devbin/kiln_cuda_check | awk '/=> \// {print $3}' |
  grep -v -E '/(libc|libm|libdl|librt|libpthread|libgcc_s|libstdc\+\+|libnvrtc)[.-]' |
  while read -r lib; do cp -L "$lib" .devbin/; done
if ldd .devbin/kiln_cuda_check | grep -q libLLVM; then echo "error: kiln_cuda_check needs libLLVM" >&2; exit 1; fi
ls -la .devbin
echo "carry .devbin and run: bash scripts/cuda_device_check.sh"
