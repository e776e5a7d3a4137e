// Devices in the frontend: every node carries one, ops keep their inputs' and refuse to mix them,
// to() moves values, and CUDA without a GPU is a clear error. Tracing is lazy, so all of it but
// running on a GPU is checked here without one.
#include "test_util.h"

#include <cmath>
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
  Tensor g =
      x.to(kGpu); // lazy; realized, its bytes wait on the host until a GPU program reads them
  CHECK(g.device() == kGpu);
  CHECK_FALSE(g.is_realized());
  g.realize();
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

// to() is an op: gradients flow back through it to the source device. A round trip through a GPU
// device realizes on the host alone (the bytes wait there), so values are checked here too.
TEST_CASE("devices: gradients flow through to()", "[devices][autodiff]") {
  Tensor x = kiln::tensor({1.f, -2.f, 3.f}).requires_grad_();
  Tensor w = kiln::tensor({0.5f, 4.f, -1.f});
  Tensor y = (x * 3).to(kGpu);
  CHECK(y.device() == kGpu);
  CHECK(y.requires_grad());
  Tensor back = y.to(Device::cpu());
  CHECK(back.to_vector<float>() == std::vector<float>{3.f, -6.f, 9.f});
  (back * w).sum().backward();
  CHECK(x.grad().device() == Device::cpu());
  CHECK(x.grad().to_vector<float>() == std::vector<float>{1.5f, 12.f, -3.f});

  // A loss on the GPU device: x's gradient is on the CPU, the same values as the reference.
  x.zero_grad();
  Tensor loss = (x.to(kGpu) * x.to(kGpu)).sum();
  auto grads = kiln::autograd::grad({loss}, {x});
  CHECK(grads[0].device() == Device::cpu());
  CHECK(kiln::reference(grads[0]).to_vector<float>() == std::vector<float>{2.f, -4.f, 6.f});
  // And from the GPU device to the CPU: the gradient goes back to the GPU device.
  Tensor xg = kiln::tensor({2.f, 5.f}).to(kGpu).realize().detach().requires_grad_();
  Tensor gg = kiln::autograd::grad({(xg.to(Device::cpu()).exp()).sum()}, {xg})[0];
  CHECK(gg.device() == kGpu);
  std::vector<float> want = {std::exp(2.f), std::exp(5.f)};
  std::vector<float> got = kiln::reference(gg).to_vector<float>();
  CHECK(got[0] == Approx(want[0]));
  CHECK(got[1] == Approx(want[1]));
  // Without a GPU, only what runs there fails.
  if (!kiln::cuda::is_available())
    CHECK_THAT(error_of([&] { (void)(xg * 2).to(Device::cpu()).to_vector<float>(); }),
               Contains("no CUDA device is available"));
}

TEST_CASE("devices: Module::to moves parameters, buffers and gradients", "[devices][nn]") {
  kiln::manual_seed(3);
  kiln::nn::BatchNorm2d model(4); // parameters and buffers
  auto values = [](const Tensor& t) {
    return t.to(Device::cpu()).to(DType::F64).to_vector<double>();
  };
  std::vector<Tensor> params = model.parameters();
  REQUIRE(params.size() == 2);
  REQUIRE_FALSE(model.named_buffers().empty());
  kiln::pow(model(kiln::randn({2, 4, 3, 3})), 2.0).sum().backward();
  REQUIRE(params[0].grad().defined());
  std::vector<std::vector<double>> before;
  for (auto& [name, t] : model.named_buffers()) before.push_back(values(t));
  for (auto& p : params) before.push_back(values(p));
  std::vector<double> grad0 = values(params[0].grad());

  model.to(kGpu);
  size_t k = 0;
  for (auto& [name, t] : model.named_buffers()) {
    INFO(name);
    CHECK(t.device() == kGpu);
    CHECK(values(t) == before[k++]);
  }
  for (size_t i = 0; i < params.size(); ++i) {
    INFO("parameter " << i);
    CHECK(params[i].device() == kGpu); // the handles held before the move see it
    CHECK(params[i].requires_grad());
    CHECK(values(params[i]) == before[k++]);
  }
  CHECK(params[0].grad().device() == kGpu);
  CHECK(values(params[0].grad()) == grad0);
  // A forward on the GPU device traces there (eval: training would update the running stats
  // now); its input must come along.
  model.eval();
  CHECK(model(kiln::randn({2, 4, 3, 3}).to(kGpu)).device() == kGpu);
  CHECK_THAT(error_of([&] {
               (void)model(kiln::randn({2, 4, 3, 3}));
             }),
             Contains("different devices"));
  model.to("cpu");
  for (auto& p : params) CHECK(p.device() == Device::cpu());
  CHECK(params[0].grad().device() == Device::cpu());
  CHECK(values(params[1]) == before.back());
}

TEST_CASE("devices: optimizer state follows moved parameters", "[devices][optim]") {
  if (kiln::cuda::is_available()) {
    WARN("skipped: needs a machine without a CUDA GPU");
    return;
  }
  kiln::manual_seed(4);
  kiln::nn::Linear model(3, 2);
  kiln::optim::SGD opt(model.parameters(), {.lr = 0.1, .momentum = 0.9});
  auto step = [&](Device d) {
    opt.zero_grad();
    model(kiln::randn({4, 3}).to(d)).sum().backward();
    opt.step();
  };
  step(Device::cpu()); // momentum buffers now exist, on the CPU
  for (auto& [name, t] : opt.state()) CHECK(t.device() == Device::cpu());
  model.to(kGpu);
  // The step traces on the GPU device with its state moved (not a mixed-devices error); only
  // running it needs the GPU.
  CHECK_THAT(error_of([&] { step(kGpu); }), Contains("no CUDA device is available"));
  for (auto& [name, t] : opt.state())
    if (name.rfind("step", 0) != 0) CHECK(t.device() == kGpu); // not the step counts
}
