// A short tour of kiln: lazy tensors, realize(), views, reductions, matmul, errors, stats.
#include <kiln/kiln.h>

#include <iostream>

int main() try {
  kiln::manual_seed(0);
  auto x = kiln::tensor({{1.f, 2.f, 3.f}, {4.f, 5.f, 6.f}});
  auto y = (x * 2 + 1).relu();      // nothing runs yet: y is a lazy graph node
  std::cout << "y = " << y << "\n"; // printing realizes it
  std::cout << "y.T = " << y.transpose(0, 1) << "\n";
  std::cout << "row sums = " << y.sum({1}) << "\n";
  std::cout << "x @ x.T = " << kiln::matmul(x, x.transpose(0, 1)) << "\n";
  std::cout << "mean of randn = " << kiln::randn({1000}).mean().item<float>() << "\n";
  try {
    kiln::matmul(x, x); // [2,3] @ [2,3]: a user error, reported at this line
  } catch (const kiln::Error& e) {
    std::cout << "error: " << e.what() << "\n";
  }
  std::cout << kiln::stats().str() << "\n";
} catch (const kiln::Error& e) { // e.g. KILN_DEVICE=cuda on a machine without a GPU
  std::cerr << "error: " << e.what() << "\n";
  return 1;
}
