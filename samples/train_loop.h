// The classifier training loop the training samples share: one epoch of steps with a progress
// bar, and test accuracy.
#pragma once
#include "training_log.h"

#include <kiln/kiln.h>

#include <functional>
#include <map>
#include <string>
#include <variant>

namespace sample {

// Maps a batch of inputs before the model sees it (normalization); identity when empty.
using Prepare = std::function<kiln::Tensor(const kiln::Tensor&)>;

// One epoch of cross-entropy training; stops after max_steps steps when it is >= 0. Each step
// (forward, backward, update) is one program, compiled once.
EpochRecord train_epoch(kiln::nn::Module& model, kiln::optim::Optimizer& opt,
                        kiln::data::DataLoader& loader, int epoch, int epochs,
                        const Prepare& prepare = {}, int64_t max_steps = -1);

// "--name value" flags: sets each named variable from its value; an unknown flag or a missing
// value throws std::runtime_error.
using Flag = std::variant<int*, int64_t*, double*, std::string*>;
void parse_flags(int argc, char** argv, const std::map<std::string, Flag>& flags);

// Accuracy of model on a data set, in batches, without gradients.
double accuracy(kiln::nn::Module& model, const kiln::data::Dataset& data, int64_t batch,
                const Prepare& prepare = {});

} // namespace sample
