// Devices in the frontend: every node carries one, ops keep their inputs' and refuse to mix them,
// to() moves values, and CUDA without a GPU is a clear error. Tracing is lazy, so all of it but
// running on a GPU is checked here without one.
#include "test_util.h"

#include <functional>

using Catch::Matchers::Contains;
using kiln::Device;
using kiln::DType;
using kiln::Tensor;

namespace {

using kt::error_of;

// New tensors go to `d` while it lives (what KILN_DEVICE sets).
struct DefaultDevice {
  Device saved = kiln::options().device;
  explicit DefaultDevice(Device d) { kiln::options().device = d; }
  ~DefaultDevice() { kiln::options().device = saved; }
};

const Device kGpu = Device::cuda(0);

} // namespace

TEST_CASE("devices: creation ops take a device, else the default", "[devices]") {
  CHECK(kiln::randn({2, 3}).device() == Device::cpu());
  CHECK(kiln::randn({2, 3}, {.device = kGpu}).device() == kGpu);
  CHECK(kiln::zeros({2}, {.dtype = DType::F64, .device = Device::cuda(1)}).device() ==
        Device::cuda(1));
  CHECK(kiln::rand({4}, {.device = kGpu}).device() == kGpu);
  DefaultDevice gpu(Device::cuda(2));
  CHECK(kiln::tensor({1.f, 2.f}).device() == Device::cuda(2));
  CHECK(kiln::arange(0, 4).device() == Device::cuda(2));
  CHECK(kiln::ones({3}).device() == Device::cuda(2));
  CHECK(kiln::zeros({3}, {.device = Device::cpu()}).device() == Device::cpu());
}

TEST_CASE("devices: every op keeps its inputs' device", "[devices]") {
  Tensor x = kiln::randn({4, 3}, {.device = kGpu});
  Tensor i = kiln::tensor({0, 2, 1, 0}).to(kGpu);
  std::vector<Tensor> results = {
      x * 2 + 1,
      x.exp().relu(),
      kiln::where(x > 0, x, 0.5),
      x.reshape({3, 4}),
      x.transpose(0, 1),
      x.slice(0, 1, 3),
      x.unsqueeze(0).expand({2, 4, 3}),
      x.sum({1}),
      x.max(),
      x.argmax(1),
      x.mean({0}, true),
      kiln::matmul(x, x.transpose(0, 1)),
      kiln::nn::functional::softmax(x, -1),
      kiln::nn::functional::cross_entropy(x, i),
      x + kiln::zeros({3}), // a tensor of literals adapts to the device it meets
      x.to(DType::F64),
  };
  for (size_t k = 0; k < results.size(); ++k) {
    INFO("result " << k);
    CHECK(results[k].device() == kGpu);
  }
}

TEST_CASE("devices: gradients live on their tensor's device", "[devices]") {
  Tensor w = kiln::randn({3, 3}, {.device = kGpu, .requires_grad = true});
  Tensor b = kiln::randn({3}, {.device = kGpu, .requires_grad = true});
  Tensor loss = (kiln::matmul(w, w).tanh() + b).sum();
  auto grads = kiln::autograd::grad({loss}, {w, b});
  CHECK(grads[0].device() == kGpu);
  CHECK(grads[1].device() == kGpu);
  loss.backward();
  CHECK(w.grad().device() == kGpu);
}

TEST_CASE("devices: mixing devices names the op, both devices and the line", "[devices]") {
  Tensor gpu = kiln::randn({2, 3}, {.device = kGpu});
  Tensor cpu = kiln::randn({2, 3});
  int line = __LINE__ + 1;
  std::string e = error_of([&] { (void)(cpu + gpu); });
  CHECK_THAT(e, Contains("[add]") && Contains("cpu") && Contains("cuda:0") &&
                    Contains(fmt::format("test_devices.cpp:{}", line)));
  e = error_of([&] { (void)kiln::matmul(gpu, cpu.transpose(0, 1)); });
  CHECK_THAT(e, Contains("[matmul]") && Contains("cuda:0") && Contains("cpu"));
  // A composite op is named as the user called it.
  e = error_of([&] { (void)kiln::nn::functional::mse_loss(gpu, cpu); });
  CHECK_THAT(e, Contains("[mse_loss]") && Contains("different devices"));
  e = error_of([&] { (void)(gpu + kiln::randn({2, 3}, {.device = Device::cuda(1)})); });
  CHECK_THAT(e, Contains("cuda:0") && Contains("cuda:1"));
}

TEST_CASE("devices: to() round trip and reads through the host", "[devices]") {
  Tensor x = kiln::tensor({1.5f, -2.f, 3.f}) * 2;
  CHECK(x.to(Device::cpu()).same(x));
  Tensor g = x.to(kGpu); // realizes x; the bytes wait on the host until a GPU program reads them
  CHECK(g.device() == kGpu);
  CHECK(g.is_realized());
  Tensor back = g.to(Device::cpu());
  CHECK(back.device() == Device::cpu());
  CHECK(back.to_vector<float>() == std::vector<float>{3.f, -4.f, 6.f});
  CHECK(g.to_vector<float>() == std::vector<float>{3.f, -4.f, 6.f});
  CHECK(g.slice(0, 1, 2).device() == kGpu);
  CHECK(kiln::reference(g).device() == kGpu);
  CHECK_THAT(g.str(), Contains("-4."));
}

TEST_CASE("devices: node hashes differ by device", "[devices]") {
  CHECK(kiln::zeros({3}).node()->hash != kiln::zeros({3}, {.device = kGpu}).node()->hash);
  CHECK(kiln::ones({3}, {.device = Device::cuda(1)}).node()->hash !=
        kiln::ones({3}, {.device = kGpu}).node()->hash);
  // Same structure, same device: equal hashes (what the program cache relies on).
  CHECK(kiln::ones({3}, {.device = kGpu}).node()->hash ==
        kiln::ones({3}, {.device = kGpu}).node()->hash);
}

TEST_CASE("devices: CUDA without a GPU is a clear error", "[devices][cuda]") {
  CHECK(kiln::cuda::is_available() == (kiln::cuda::device_count() > 0));
  if (kiln::cuda::is_available()) {
    WARN("skipped: this machine has a CUDA GPU");
    return;
  }
  CHECK(kiln::cuda::device_count() == 0);
  Tensor x = kiln::randn({2, 3}, {.device = kGpu});
  Tensor y = x * 2;
  CHECK_THAT(error_of([&] { y.realize(); }),
             Contains("no CUDA device is available") && Contains("cuda:0"));
  CHECK_THAT(error_of([&] { (void)y.sum().item<float>(); }),
             Contains("no CUDA device is available"));
  CHECK_FALSE(y.is_realized());
  // The CPU still works after the failed attempt.
  CHECK(kiln::tensor({1.f, 2.f}).sum().item<float>() == 3.f);
}
