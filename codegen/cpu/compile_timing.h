// KILN_DUMP=llvm-time: where one kernel's compile time goes (jit.cpp), to find what makes a cold
// compile slow. Times are the compiling thread's CPU time: kernels compile two at a time on
// machines others share, and wall time would count the waits.
#pragma once
#include <llvm/IR/Module.h>
#include <llvm/IR/PassInstrumentation.h>

#include <map>
#include <string>
#include <vector>

namespace kiln::cpu {

double thread_cpu_seconds();

class CompileTiming {
public:
  // Times every pass a PassBuilder made with `pic` runs, each pass's own time (the passes it
  // runs nested, such as a pass manager's, excluded). This object must outlive the run.
  void instrument(llvm::PassInstrumentationCallbacks& pic);
  // Ends the phase that ran since the last call (or since construction) and names it.
  void phase(const char* name);
  // The module's size in LLVM instructions at this point, under `when`.
  void size(const char* when, const llvm::Module& m);
  // Phases, sizes, then the `top` passes that took the longest, as LLVM comment lines.
  std::string report(size_t top = 12) const;

private:
  struct PassTime {
    double seconds = 0;
    int runs = 0;
  };
  struct Open {
    double start, nested;
  };
  void pass_ended(llvm::StringRef name);

  std::map<std::string, PassTime> passes_;
  std::vector<Open> open_;
  std::vector<std::pair<std::string, double>> phases_;
  std::vector<std::pair<std::string, size_t>> sizes_;
  double mark_ = thread_cpu_seconds();
};

} // namespace kiln::cpu
