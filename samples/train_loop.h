// The classifier training loop the training samples share: one epoch of steps with a progress
// bar, and test accuracy.
#pragma once
#include "training_log.h"

#include <kiln/kiln.h>

#include <functional>

namespace sample {

// Maps a batch of inputs before the model sees it (normalization); identity when empty.
using Prepare = std::function<kiln::Tensor(const kiln::Tensor&)>;

// One epoch of cross-entropy training; stops after max_steps steps when it is >= 0. Each step
// (forward, backward, update) is one program, compiled once.
EpochRecord train_epoch(kiln::nn::Module& model, kiln::optim::Optimizer& opt, kiln::data::DataLoader& loader,
                        int epoch, int epochs, const Prepare& prepare = {}, int64_t max_steps = -1);

// Accuracy of model on a data set, in batches, without gradients.
double accuracy(kiln::nn::Module& model, const kiln::data::Dataset& data, int64_t batch,
                const Prepare& prepare = {});

} // namespace sample
