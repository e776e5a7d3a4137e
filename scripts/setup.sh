#!/usr/bin/env bash
# Installs kiln's build dependencies from Debian 12 packages; a no-op when all are present.
set -euo pipefail

packages=(cmake ninja-build g++ llvm-16-dev libfmt-dev catch2 libopenblas-dev zlib1g-dev)
# Optional extras: graphviz renders IR graphs, dataset-fashion-mnist feeds the training samples,
# fortunes is the text char_transformer learns from.
if [[ "${KILN_SETUP_EXTRAS:-1}" == 1 ]]; then packages+=(graphviz dataset-fashion-mnist fortunes); fi

missing=()
for p in "${packages[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if ((${#missing[@]} == 0)); then
  exit 0
fi
echo "kiln setup: installing ${missing[*]}"
sudo=""
if [[ $(id -u) != 0 ]]; then sudo="sudo"; fi
$sudo apt-get update -qq
DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq --no-install-recommends "${missing[@]}"
