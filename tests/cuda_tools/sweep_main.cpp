// kiln_cuda_sweep OUT: writes the CUDA sweep's graphs (tests/cuda_sweep.cpp), with the timed
// workloads, as graph-IR text for kiln_cuda_check.
#include "cuda_sweep.h"

#include <cstdio>
#include <fstream>

int main(int argc, char** argv) {
  if (argc != 2) {
    std::fprintf(stderr, "usage: kiln_cuda_sweep OUT.txt\n");
    return 2;
  }
  std::ofstream(argv[1]) << kiln::cuda_sweep::to_text(kiln::cuda_sweep::cases(true));
  return 0;
}
