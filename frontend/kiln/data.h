// Data: the Fashion-MNIST IDX reader and a DataLoader (batching, seeded shuffle, drop_last).
#pragma once
#include "kiln/creation.h"

#include <string>

namespace kiln::data {

struct Dataset {
  Tensor inputs;  // [N, ...]
  Tensor targets; // [N]
  int64_t size() const { return inputs.defined() && inputs.dim() > 0 ? inputs.shape()[0] : 0; }
};

// Fashion-MNIST from the Debian package dataset-fashion-mnist (or `root`): images as f32 in
// [0, 1], flattened to [N, 784] unless `flatten` is false ([N, 1, 28, 28]); labels as i64.
// A missing data set throws kiln::Error naming the package.
Dataset fashion_mnist(bool train, bool flatten = true,
                      const std::string& root = "/usr/share/datasets/fashion-mnist");

// Reads one IDX file (gzip-compressed or not) as a u8 tensor of its shape.
Tensor read_idx(const std::string& path);

// Batches of a data set in (seeded, per-epoch) shuffled order. Like PyTorch's, it keeps the last,
// smaller batch of an epoch unless drop_last (a training step over it compiles one more program).
class DataLoader {
public:
  DataLoader(Dataset data, int64_t batch_size, bool shuffle = true, uint64_t seed = 0,
             bool drop_last = false);
  int64_t batches() const;
  // Starts an epoch: reshuffles (seeded, different every epoch) when shuffling.
  void reset();
  // The next batch; false at the end of the epoch.
  bool next(Tensor& inputs, Tensor& targets);

private:
  Dataset data_;
  int64_t batch_, pos_ = 0, epoch_ = 0;
  bool shuffle_, drop_last_;
  uint64_t seed_;
  std::vector<int64_t> order_;
};

} // namespace kiln::data
