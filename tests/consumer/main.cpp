#include <kiln/kiln.h>

#include <cstdio>

int main() {
  auto x = kiln::arange(0, 4).reshape({2, 2});
  float s = (x * x + 1).sum().item<float>(); // 1 + 2 + 5 + 10
  std::printf("consumer sum=%g\n", s);
  return s == 18.0f ? 0 : 1;
}
