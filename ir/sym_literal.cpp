#include "ir/sym_literal.h"

#include "ir/scalar_eval.h"

namespace kiln {

Scalar sym_literal(const KInst& in, int64_t s) {
  int64_t p = in.sym.at(s);
  if (in.value.f != 0) return Scalar{in.value.f / static_cast<double>(p), 0};
  return eval_cast(Scalar{0, p}, DType::I64, in.dtype);
}

} // namespace kiln
