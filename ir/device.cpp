#include "ir/device.h"

#include "ir/error.h"

#include <charconv>

namespace kiln {

std::string device_name(Device d) {
  return d.kind == Device::Kind::Cpu ? "cpu" : fmt::format("cuda:{}", d.index);
}

Device parse_device(std::string_view text) {
  if (text == "cpu") return Device::cpu();
  if (text == "cuda") return Device::cuda(0);
  if (text.substr(0, 5) == "cuda:") {
    std::string_view num = text.substr(5);
    int index = -1;
    auto [end, ec] = std::from_chars(num.data(), num.data() + num.size(), index);
    if (ec == std::errc() && end == num.data() + num.size() && !num.empty() && index >= 0)
      return Device::cuda(index);
  }
  fail("device", "unknown device '{}' (expected cpu, cuda or cuda:N)", text);
}

} // namespace kiln
