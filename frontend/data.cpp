// Fashion-MNIST IDX reading (gzip through zlib) and batching with a seeded shuffle.
#include "kiln/data.h"

#include "trace.h"

#include <fmt/format.h>

#include <cstring>
#include <filesystem>
#include <numeric>
#include <zlib.h>

namespace kiln::data {
namespace {

std::vector<uint8_t> read_gz(const std::string& path) {
  gzFile f = gzopen(path.c_str(), "rb");
  if (!f) throw Error("[data] cannot open " + path);
  std::vector<uint8_t> out;
  uint8_t buf[1 << 16];
  int n;
  while ((n = gzread(f, buf, sizeof buf)) > 0) out.insert(out.end(), buf, buf + n);
  bool failed = n < 0;
  gzclose(f);
  if (failed) throw Error("[data] " + path + " is not a readable (gzip) file");
  return out;
}

uint32_t big_endian(const uint8_t* p) {
  return (uint32_t(p[0]) << 24) | (p[1] << 16) | (p[2] << 8) | p[3];
}

} // namespace

Tensor read_idx(const std::string& path) {
  std::vector<uint8_t> bytes = read_gz(path); // gzread also reads uncompressed files
  if (bytes.size() < 4 || bytes[0] != 0 || bytes[1] != 0 || bytes[2] != 0x08)
    throw Error("[data] " + path + " is not an IDX file of unsigned bytes");
  int dims = bytes[3];
  if (bytes.size() < 4 + 4 * size_t(dims)) throw Error("[data] " + path + " is truncated");
  Shape shape;
  for (int d = 0; d < dims; ++d) shape.push_back(big_endian(&bytes[4 + 4 * d]));
  size_t offset = 4 + 4 * size_t(dims);
  if (!shape_fits(shape, 1)) throw Error("[data] " + path + ": " + shape_problem(shape, 1));
  if (bytes.size() - offset != static_cast<size_t>(numel(shape)))
    throw Error("[data] " + path + " holds " + std::to_string(bytes.size() - offset) +
                " bytes for shape " + shape_str(shape));
  return from_blob(bytes.data() + offset, shape, DType::U8);
}

Dataset fashion_mnist(bool train, bool flatten, const std::string& root) {
  std::string prefix = root + (train ? "/train" : "/t10k");
  std::string images = prefix + "-images-idx3-ubyte.gz", labels = prefix + "-labels-idx1-ubyte.gz";
  if (!std::filesystem::exists(images) || !std::filesystem::exists(labels))
    throw Error("[fashion_mnist] data set not found under " + root +
                ": install the Debian package dataset-fashion-mnist (apt-get install "
                "dataset-fashion-mnist)");
  Tensor x = read_idx(images), y = read_idx(labels);
  int64_t n = x.shape()[0];
  Tensor inputs = (x.to(DType::F32) / 255.0).reshape(flatten ? Shape{n, 784} : Shape{n, 1, 28, 28});
  return {inputs.realize(), y.to(DType::I64).realize()};
}

DataLoader::DataLoader(Dataset data, int64_t batch_size, bool shuffle, uint64_t seed,
                       bool drop_last)
    : data_(std::move(data)), batch_(batch_size), shuffle_(shuffle), drop_last_(drop_last),
      seed_(seed) {
  if (batch_size <= 0)
    throw Error("[DataLoader] batch size must be positive, got " + std::to_string(batch_size));
  if (!data_.inputs.defined() || !data_.targets.defined())
    throw Error(fmt::format("[DataLoader] the data set has no {} (expected inputs [N, ...] and "
                            "targets [N] tensors)",
                            data_.inputs.defined() ? "targets" : "inputs"));
  if (data_.inputs.dim() == 0 || data_.targets.dim() == 0 ||
      data_.targets.shape()[0] != data_.inputs.shape()[0])
    throw Error(fmt::format("[DataLoader] inputs {} and targets {} must have the same first "
                            "dimension, one row per sample",
                            trace::describe(data_.inputs), trace::describe(data_.targets)));
  data_.inputs.realize();
  data_.targets.realize();
  reset();
}

int64_t DataLoader::batches() const {
  return drop_last_ ? data_.size() / batch_ : (data_.size() + batch_ - 1) / batch_;
}

void DataLoader::reset() {
  order_.resize(data_.size());
  std::iota(order_.begin(), order_.end(), 0);
  if (shuffle_) { // Fisher-Yates with a generator seeded per epoch
    Generator g(seed_ + 0x9e3779b97f4a7c15ull * static_cast<uint64_t>(epoch_));
    for (int64_t i = static_cast<int64_t>(order_.size()) - 1; i > 0; --i)
      std::swap(order_[i], order_[g.next() % static_cast<uint64_t>(i + 1)]);
  }
  pos_ = 0;
  ++epoch_;
}

namespace {
// Gathers rows of a realized tensor into a new one on the host.
Tensor gather_rows(const Tensor& t, const std::vector<int64_t>& order, int64_t begin,
                   int64_t count) {
  Shape shape = t.shape();
  size_t row =
      static_cast<size_t>(numel(shape) / std::max<int64_t>(shape[0], 1)) * dtype_size(t.dtype());
  shape[0] = count;
  std::vector<uint8_t> buf(row * static_cast<size_t>(count));
  auto storage = trace::host_storage(t);
  const auto* src = static_cast<const uint8_t*>(storage->data);
  for (int64_t i = 0; i < count; ++i) std::memcpy(&buf[row * i], src + row * order[begin + i], row);
  return from_blob(buf.data(), shape, t.dtype());
}
} // namespace

bool DataLoader::next(Tensor& inputs, Tensor& targets) {
  int64_t left = data_.size() - pos_;
  if (left <= 0 || (drop_last_ && left < batch_)) return false;
  int64_t count = std::min(batch_, left);
  inputs = gather_rows(data_.inputs, order_, pos_, count);
  targets = gather_rows(data_.targets, order_, pos_, count);
  pos_ += count;
  return true;
}

} // namespace kiln::data
