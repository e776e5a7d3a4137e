#!/usr/bin/env bash
# Run HERE (a machine with the project's apt packages): puts into .gpu/ (ignored, never committed)
# what scripts/gpu_check.sh needs to build kiln on a GPU machine that has CUDA 13, CMake, Ninja and
# g++ but no package registry: fmt, Catch2, zlib and OpenBLAS headers, their shared libraries,
# and CMake package files for fmt and Catch2 that point at them. Carry .gpu along.
set -euo pipefail
cd "$(dirname "$0")/.."
LIB=/usr/lib/x86_64-linux-gnu
rm -rf .gpu && mkdir -p .gpu/include/catch2 .gpu/lib/cmake/fmt .gpu/lib/cmake/Catch2
cp -r /usr/include/fmt .gpu/include/
cp /usr/include/catch2/catch.hpp .gpu/include/catch2/
cp /usr/include/zlib.h /usr/include/zconf.h .gpu/include/
cp /usr/include/x86_64-linux-gnu/openblas-pthread/{cblas.h,openblas_config.h} .gpu/include/
# Each library under its soname, and its link name beside it.
copy_lib() { # real file, soname, link name
  cp -L "$1" ".gpu/lib/$2"
  ln -sf "$2" ".gpu/lib/$3"
}
copy_lib "$LIB/libfmt.so" "$(objdump -p "$LIB/libfmt.so" | awk '/SONAME/ {print $2}')" libfmt.so
copy_lib "$LIB/libz.so" libz.so.1 libz.so
copy_lib "$LIB/libopenblas.so.0" libopenblas.so.0 libopenblas.so
cp -L /lib/x86_64-linux-gnu/libgfortran.so.5 /lib/x86_64-linux-gnu/libquadmath.so.0 .gpu/lib/

cat > .gpu/lib/cmake/fmt/fmt-config.cmake <<'CMAKE'
# fmt from .gpu/ (scripts/gpu_prepare.sh): headers and the shared library.
get_filename_component(_gpu "${CMAKE_CURRENT_LIST_DIR}/../../.." ABSOLUTE)
add_library(fmt::fmt SHARED IMPORTED)
file(GLOB _fmt_so "${_gpu}/lib/libfmt.so.*")
set_target_properties(fmt::fmt PROPERTIES IMPORTED_LOCATION "${_fmt_so}"
                      INTERFACE_INCLUDE_DIRECTORIES "${_gpu}/include")
set(fmt_FOUND TRUE)
CMAKE
cat > .gpu/lib/cmake/Catch2/Catch2Config.cmake <<'CMAKE'
# Catch2 v2 (single header) from .gpu/ (scripts/gpu_prepare.sh).
get_filename_component(_gpu "${CMAKE_CURRENT_LIST_DIR}/../../.." ABSOLUTE)
add_library(Catch2::Catch2 INTERFACE IMPORTED)
set_target_properties(Catch2::Catch2 PROPERTIES INTERFACE_INCLUDE_DIRECTORIES "${_gpu}/include")
set(Catch2_FOUND TRUE)
CMAKE
du -sh .gpu
echo "carry .gpu and run: bash scripts/gpu_check.sh"
