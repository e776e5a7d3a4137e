#include "runtime/transfer.h"

#include "codegen/backend.h"

namespace kiln {

std::shared_ptr<Storage> to_device(std::shared_ptr<Storage> s, Device d) {
  if (s->device == d) return s;
  std::shared_ptr<Storage> host = s;
  if (s->device != Device::cpu()) {
    host = backend_for(Device::cpu()).allocate(s->bytes);
    backend_for(s->device).copy_to_host(host->data, *s, s->bytes);
  }
  if (d == Device::cpu()) return host;
  const Backend& to = backend_for(d);
  auto out = to.allocate(host->bytes);
  to.copy_from_host(*out, host->data, host->bytes);
  return out;
}

} // namespace kiln
