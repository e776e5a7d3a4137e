// The CUDA source writer shared by the strategies: instruction and store text, index
// decomposition, the kernel signature (cuda_emit.cpp), and the tiled matmul (cuda_tiled.cpp).
#pragma once
#include "codegen/cuda/cuda_analysis.h"

#include <fmt/format.h>

namespace kiln::cuda::detail {

class Writer {
public:
  explicit Writer(const Kernel& k);
  CudaKernel run();

private:
  template <typename... A> void line(fmt::format_string<A...> f, A&&... a) {
    out_.append(static_cast<size_t>(indent_) * 2, ' ');
    out_ += fmt::format(f, std::forward<A>(a)...);
    out_ += '\n';
  }
  void open(const std::string& head) {
    head.empty() ? line("{{") : line("{} {{", head);
    ++indent_;
  }
  void close() { --indent_, line("}}"); }

  std::string var(int i) const { return fmt::format("v{}", i); }
  std::string type_of(int i) const; // register type; `int` for narrow i64 indices
  std::string operand(int user, int i) const;
  void emit_inst(int i);
  // Instructions inside stage `loop` (-1: outside all) needing stage `after` (< -1: any).
  void emit_placed(int loop, int after);
  void emit_stores(int loop);
  // Declares `prefix<d>` for each of dims from the linear index `linear`.
  void decompose(const std::string& linear, const std::vector<int64_t>& dims,
                 const std::string& prefix, const std::string& type);
  void signature(unsigned threads);
  void reduction_functors(int stage);
  void accumulate(int r);
  void body_serial();
  void body_row(bool warp); // the Row and WarpRow strategies
  void body_tiled(const MatmulSplit& mm);
  void body_attention(const AttentionKernel& a);
  void attention_functors(DType t); // kiln_max_op and kiln_sum_op, before the kernel
  // The instructions `roots` need, roots included, short of those `have` marks (values already
  // in registers; empty: none); emit_needed emits them in order.
  std::vector<bool> needed(const std::vector<int>& roots, const std::vector<bool>& have = {}) const;
  void emit_needed(const std::vector<int>& roots, const std::vector<bool>& have = {});
  void tiled_operand(int root, bool lhs, const std::string& m_or_n);

  const Kernel& k_;
  std::vector<Placement> place_;
  std::vector<bool> narrow_, summed_;
  std::vector<std::string> loop_var_;          // per domain axis
  std::vector<std::vector<std::string>> rvar_; // per stage, per axis
  std::string out_;
  int indent_ = 0;
  LaunchPlan plan_;
  std::optional<AttentionKernel> attention_;
};

// Threads of an attention block, and the keys of one chunk (one score a thread).
constexpr int kAttentionThreads = 128;

std::string index_type(int64_t max_value); // "int" when it fits with headroom, else "long long"

} // namespace kiln::cuda::detail
