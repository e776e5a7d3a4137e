// Device: where a buffer lives and a kernel runs, the host CPU or CUDA GPU number N.
#pragma once
#include <cstdint>
#include <string>
#include <string_view>

namespace kiln {

struct Device {
  enum class Kind : uint8_t { Cpu, Cuda };
  Kind kind = Kind::Cpu;
  int index = 0; // which GPU; always 0 for the CPU

  static constexpr Device cpu() { return {}; }
  static constexpr Device cuda(int index = 0) { return {Kind::Cuda, index}; }
  bool operator==(const Device&) const = default;
};

// "cpu", "cuda:0".
std::string device_name(Device d);
// Reads "cpu", "cuda" (GPU 0) or "cuda:N"; anything else throws kiln::Error naming the text.
Device parse_device(std::string_view text);

} // namespace kiln
