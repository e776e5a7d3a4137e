// Persistence: safetensors and .npy round trips, files as Python writes them, every kind of bad
// file, module state (unchanged on error), and optimizer state resuming training exactly.
#include "test_util.h"

#include <kiln/io.h>

#include <cstring>
#include <filesystem>
#include <fstream>
#include <functional>
#include <map>
#include <unistd.h>

using namespace kt;
namespace io = kiln::io;
namespace fs = std::filesystem;

namespace {

// A fresh folder per test case, removed at the end.
struct TempDir {
  fs::path dir;
  TempDir() {
    static int n = 0;
    dir = fs::temp_directory_path() /
          ("kiln_test_io_" + std::to_string(getpid()) + "_" + std::to_string(n++));
    fs::create_directories(dir);
  }
  ~TempDir() { fs::remove_all(dir); }
  std::string operator/(const std::string& name) const { return (dir / name).string(); }
};

std::string read_bytes(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  return std::string(std::istreambuf_iterator<char>(in), {});
}

void write_bytes(const std::string& path, const std::string& bytes) {
  std::ofstream(path, std::ios::binary) << bytes;
}

std::string le64(uint64_t v) {
  std::string s(8, '\0');
  for (int i = 0; i < 8; ++i) s[i] = static_cast<char>((v >> (8 * i)) & 0xFF);
  return s;
}

// A safetensors file from a header and data, as the reference implementation lays it out.
std::string safetensors(const std::string& header, const std::string& data) {
  return le64(header.size()) + header + data;
}

std::string f32_bytes(std::initializer_list<float> v) {
  std::string s;
  for (float x : v) s.append(reinterpret_cast<const char*>(&x), 4);
  return s;
}

// A model with parameters and buffers: conv, batch norm, linear.
std::shared_ptr<kiln::nn::Sequential> small_model(uint64_t seed) {
  kiln::manual_seed(seed);
  using M = std::shared_ptr<kiln::nn::Module>;
  return std::make_shared<kiln::nn::Sequential>(std::initializer_list<M>{
      std::make_shared<kiln::nn::Conv2d>(1, 2, 3), std::make_shared<kiln::nn::BatchNorm2d>(2),
      std::make_shared<kiln::nn::Flatten>(), std::make_shared<kiln::nn::Linear>(2 * 2 * 2, 3)});
}

std::vector<std::vector<double>> values_of(const kiln::nn::NamedTensors& ts) {
  std::vector<std::vector<double>> out;
  for (auto& [n, t] : ts) out.push_back(t.to_vector<double>());
  return out;
}

} // namespace

TEST_CASE("safetensors round trip of every dtype", "[io]") {
  TempDir tmp;
  kiln::nn::NamedTensors ts = {
      {"f32", random_input({2, 3}, DType::F32)},
      {"f64", random_input({4}, DType::F64)},
      {"i32", random_input({3, 1}, DType::I32)},
      {"i64", random_input({2, 2, 2}, DType::I64)},
      {"bool", random_input({5}, DType::Bool)},
      {"u8", random_input({3}, DType::U8)},
      {"scalar", kiln::scalar_tensor(2.5)},
      {"empty", kiln::zeros({0, 3})},
      {"lazy view", kiln::arange(0, 6).reshape({2, 3}).transpose(0, 1)},
  };
  io::save_safetensors(tmp / "a.safetensors", ts, {{"format", "pt"}, {"note", "quote \" ok"}});
  std::map<std::string, std::string> meta;
  auto back = io::load_safetensors(tmp / "a.safetensors", &meta);
  REQUIRE(back.size() == ts.size());
  for (size_t i = 0; i < ts.size(); ++i) {
    INFO(ts[i].first);
    CHECK(back[i].first == ts[i].first); // written and read back in data order
    check_close(back[i].second, ts[i].second, 0, 0);
  }
  CHECK(meta["format"] == "pt");
  CHECK(meta["note"] == "quote \" ok");
  // The layout: little-endian header length, the header padded to 8 bytes, then the data.
  std::string bytes = read_bytes(tmp / "a.safetensors");
  uint64_t n = 0;
  for (int i = 7; i >= 0; --i) n = (n << 8) | static_cast<unsigned char>(bytes[i]);
  CHECK(n % 8 == 0);
  CHECK(bytes.substr(8, n).find(
            "\"f32\":{\"dtype\":\"F32\",\"shape\":[2,3],\"data_offsets\":[0,24]}") !=
        std::string::npos);
  CHECK(bytes.size() == 8 + n + 24 + 32 + 12 + 64 + 5 + 3 + 4 + 0 + 24);
}

TEST_CASE("safetensors files written elsewhere", "[io]") {
  TempDir tmp;
  // As safetensors.torch.save_file writes them: metadata first, keys in any order, spaces.
  std::string header =
      R"({"__metadata__": {"format": "pt"}, "b": {"dtype": "I64", "shape": [], )"
      R"("data_offsets": [8, 16]}, "a": {"dtype": "F32", "shape": [2], "data_offsets": [0, 8]}})";
  std::string data = f32_bytes({1.5f, -2.0f}) + le64(7);
  write_bytes(tmp / "x.safetensors", safetensors(header, data));
  auto ts = io::load_safetensors(tmp / "x.safetensors");
  REQUIRE(ts.size() == 2);
  CHECK(ts[0].first == "a");
  check_values(ts[0].second, {1.5, -2.0});
  CHECK(ts[1].first == "b");
  CHECK(ts[1].second.shape().empty());
  CHECK(ts[1].second.item<int64_t>() == 7);
}

TEST_CASE("bad safetensors files give clear errors", "[io][errors]") {
  TempDir tmp;
  std::string good_entry = R"("a": {"dtype": "F32", "shape": [2], "data_offsets": [0, 8]})";
  std::string data = f32_bytes({1, 2});
  struct Case {
    const char* what;
    std::string file;
    const char* message;
  };
  std::vector<Case> cases = {
      {"empty file", "", "too short"},
      {"header length past the end", le64(1000) + "{}", "runs past the end"},
      {"bad JSON", safetensors("{\"a\": {\"dtype\": ", ""), "not valid JSON"},
      {"not an object", safetensors("[1, 2]", ""), "not a JSON object"},
      {"missing field", safetensors(R"({"a": {"dtype": "F32", "shape": [2]}})", data),
       "data_offsets"},
      {"unknown dtype",
       safetensors(R"({"a": {"dtype": "F16", "shape": [2], "data_offsets": [0, 4]}})",
                   f32_bytes({1})),
       "\"F16\" is not supported"},
      {"negative shape",
       safetensors(R"({"a": {"dtype": "F32", "shape": [-2], "data_offsets": [0, 8]}})", data),
       "non-negative"},
      {"size mismatch",
       safetensors(R"({"a": {"dtype": "F32", "shape": [3], "data_offsets": [0, 8]}})", data),
       "needs 12"},
      {"truncated data", safetensors("{" + good_entry + "}", f32_bytes({1})), "truncated"},
      {"trailing bytes", safetensors("{" + good_entry + "}", data + "xx"),
       "follow the last tensor"},
      {"overlap",
       safetensors("{" + good_entry +
                       R"(, "b": {"dtype": "F32", "shape": [1], "data_offsets": [4, 8]}})",
                   data),
       "overlaps"},
      {"gap", safetensors(R"({"a": {"dtype": "F32", "shape": [1], "data_offsets": [4, 8]}})", data),
       "a gap"},
      {"duplicate", safetensors("{" + good_entry + ", " + good_entry + "}", data), "appears twice"},
      {"metadata not strings", safetensors(R"({"__metadata__": {"a": 1}})", ""), "not a string"},
  };
  for (auto& c : cases) {
    INFO(c.what);
    std::string path = tmp / "bad.safetensors";
    write_bytes(path, c.file);
    CHECK_THROWS_WITH(io::load_safetensors(path), Catch::Contains("[load_safetensors]") &&
                                                      Catch::Contains(path) &&
                                                      Catch::Contains(c.message));
  }
  CHECK_THROWS_WITH(io::load_safetensors(tmp / "missing.safetensors"),
                    Catch::Contains("cannot read"));
  CHECK_THROWS_WITH(io::save_safetensors(tmp / "d.safetensors",
                                         {{"a", kiln::zeros({1})}, {"a", kiln::zeros({1})}}),
                    Catch::Contains("used twice"));
  CHECK_THROWS_WITH(io::save_safetensors((tmp / "no_such_dir") + "/x.safetensors", {}),
                    Catch::Contains("cannot write"));
}

TEST_CASE("module state round trip", "[io][nn]") {
  TempDir tmp;
  auto a = small_model(1);
  // Train mode forward: the batch-norm buffers move away from their initial values.
  (*a)(random_input({4, 1, 4, 4}, DType::F32)).realize();
  io::save_state(*a, tmp / "m.safetensors");
  auto names = io::state_dict(*a);
  REQUIRE(names.size() == 9); // 6 parameters, 3 buffers
  CHECK(names[0].first == "0.weight");
  CHECK(names[6].first == "1.running_mean");

  auto b = small_model(2);
  kiln::optim::SGD opt(b->parameters(), {.lr = 0.1});
  CHECK(values_of(io::state_dict(*b)) != values_of(io::state_dict(*a)));
  io::load_state(*b, tmp / "m.safetensors");
  CHECK(values_of(io::state_dict(*b)) == values_of(io::state_dict(*a)));
  // Parameters stay leaves that require grad, and the optimizer updates the loaded values.
  Tensor w = b->named_parameters()[0].second;
  CHECK(w.requires_grad());
  auto before = w.to_vector<double>();
  Tensor loss = (*b)(random_input({4, 1, 4, 4}, DType::F32)).sum();
  loss.backward();
  opt.step();
  auto g = w.grad().to_vector<double>(), after = w.to_vector<double>();
  for (size_t i = 0; i < after.size(); ++i) CHECK(after[i] == Approx(before[i] - 0.1 * g[i]));
}

TEST_CASE("a bad state leaves the module unchanged", "[io][nn][errors]") {
  TempDir tmp;
  auto m = small_model(3);
  auto original = values_of(io::state_dict(*m));
  auto state = io::state_dict(*small_model(4));
  auto expect_unchanged = [&](const kiln::nn::NamedTensors& s, const char* message,
                              bool strict = true) {
    io::save_safetensors(tmp / "s.safetensors", s);
    CHECK_THROWS_WITH(io::load_state(*m, tmp / "s.safetensors", strict),
                      Catch::Contains("[load_state] nothing loaded") && Catch::Contains(message));
    CHECK(values_of(io::state_dict(*m)) == original);
  };
  auto missing = state;
  missing.erase(missing.begin() + 3);
  expect_unchanged(missing, "lacks \"1.bias\"");
  auto shape = state;
  shape[0].second = kiln::zeros({2, 1, 2, 2});
  expect_unchanged(shape, "\"0.weight\" is f32[2, 1, 2, 2]");
  auto dtype = state;
  dtype[8].second = kiln::zeros({}, DType::I32);
  expect_unchanged(dtype, "\"1.num_batches_tracked\" is i32[] in");
  auto extra = state;
  extra.emplace_back("2.weight", kiln::zeros({1}));
  expect_unchanged(extra, "the module has no \"2.weight\"");
  // Not strict: extra entries are ignored, everything else loads.
  io::save_safetensors(tmp / "extra.safetensors", extra);
  io::load_state(*m, tmp / "extra.safetensors", false);
  CHECK(values_of(io::state_dict(*m)) == values_of(state));
}

TEST_CASE("npy round trip of every dtype", "[io]") {
  TempDir tmp;
  std::vector<Tensor> ts = {random_input({2, 3}, DType::F32),     random_input({4}, DType::F64),
                            random_input({3, 1, 2}, DType::I32),  random_input({2}, DType::I64),
                            random_input({5}, DType::Bool),       random_input({3}, DType::U8),
                            kiln::scalar_tensor(3.0, DType::F64), kiln::zeros({0})};
  for (auto& t : ts) {
    INFO(dtype_s(t.dtype()) << shape_s(t.shape()));
    io::save_npy(tmp / "t.npy", t);
    std::string bytes = read_bytes(tmp / "t.npy");
    uint16_t len =
        static_cast<unsigned char>(bytes[8]) | (static_cast<unsigned char>(bytes[9]) << 8);
    CHECK((10 + len) % 64 == 0);
    CHECK(bytes[10 + len - 1] == '\n');
    check_close(io::load_npy(tmp / "t.npy"), t, 0, 0);
  }
  io::save_npy(tmp / "v.npy", kiln::zeros({3}));
  CHECK(read_bytes(tmp / "v.npy").find("'shape': (3,)") != std::string::npos);
  io::save_npy(tmp / "s.npy", kiln::scalar_tensor(1));
  CHECK(read_bytes(tmp / "s.npy").find("'shape': ()") != std::string::npos);
}

TEST_CASE("npy files as numpy writes them", "[io]") {
  TempDir tmp;
  auto npy = [](int major, const std::string& dict, const std::string& data) {
    std::string h = dict;
    size_t fixed = major == 1 ? 10 : 12;
    h.append((64 - (fixed + h.size() + 1) % 64) % 64, ' ');
    h += '\n';
    std::string f = std::string("\x93NUMPY", 6) + static_cast<char>(major) + '\0';
    for (size_t i = 0; i < (major == 1 ? 2u : 4u); ++i)
      f += static_cast<char>((h.size() >> (8 * i)) & 0xFF);
    return f + h + data;
  };
  // np.asfortranarray(np.arange(6, dtype='<f4').reshape(2, 3)): column-major data.
  write_bytes(tmp / "f.npy", npy(1, "{'descr': '<f4', 'fortran_order': True, 'shape': (2, 3), }",
                                 f32_bytes({0, 3, 1, 4, 2, 5})));
  check_values(io::load_npy(tmp / "f.npy"), {0, 1, 2, 3, 4, 5});
  CHECK(io::load_npy(tmp / "f.npy").shape() == Shape{2, 3});
  // Big-endian doubles, header version 2.0.
  std::string be;
  double v = 1.25;
  uint64_t bits;
  std::memcpy(&bits, &v, 8);
  for (int i = 7; i >= 0; --i) be += static_cast<char>((bits >> (8 * i)) & 0xFF);
  write_bytes(tmp / "b.npy",
              npy(2, "{'descr': '>f8', 'fortran_order': False, 'shape': (1,), }", be));
  check_values(io::load_npy(tmp / "b.npy"), {1.25});
  // Bad files.
  struct Case {
    const char* what;
    std::string file;
    const char* message;
  };
  std::vector<Case> cases = {
      {"not npy", "hello world", "not a .npy file"},
      {"version", std::string("\x93NUMPY\x09\x00\x00\x00", 10), "version 9"},
      {"header past end", std::string("\x93NUMPY\x01\x00\xff\x00{", 11), "runs past the end"},
      {"complex dtype",
       npy(1, "{'descr': '<c8', 'fortran_order': False, 'shape': (1,), }", "12345678"),
       "'<c8' is not supported"},
      {"truncated data",
       npy(1, "{'descr': '<f4', 'fortran_order': False, 'shape': (3,), }", f32_bytes({1, 2})),
       "needs 12 bytes of data but the file has 8"},
      {"missing key", npy(1, "{'descr': '<f4', 'shape': (1,), }", f32_bytes({1})), "needs 'descr'"},
      {"bad shape", npy(1, "{'descr': '<f4', 'fortran_order': False, 'shape': (-1,), }", ""),
       "non-negative"},
  };
  for (auto& c : cases) {
    INFO(c.what);
    write_bytes(tmp / "bad.npy", c.file);
    CHECK_THROWS_WITH(io::load_npy(tmp / "bad.npy"),
                      Catch::Contains("[load_npy]") && Catch::Contains(c.message));
  }
}

TEST_CASE("saved optimizer state resumes training identically", "[io][optim]") {
  TempDir tmp;
  kiln::Generator data_gen(9);
  std::vector<std::pair<Tensor, Tensor>> batches;
  for (int i = 0; i < 5; ++i)
    batches.emplace_back(random_input({4, 1, 4, 4}, DType::F32, -1, 1, &data_gen),
                         kiln::randint(0, 3, {4}, DType::I64, &data_gen));
  auto train = [&](kiln::nn::Module& m, kiln::optim::Optimizer& opt, int from, int to) {
    for (int i = from; i < to; ++i) {
      Tensor loss = kiln::nn::functional::cross_entropy(m(batches[i].first), batches[i].second);
      loss.backward();
      opt.step();
      opt.zero_grad();
    }
  };
  using Make = std::function<std::unique_ptr<kiln::optim::Optimizer>(std::vector<Tensor>)>;
  std::vector<std::pair<const char*, Make>> optimizers = {
      {"Adam",
       [](auto p) {
         return std::make_unique<kiln::optim::Adam>(p, kiln::optim::AdamOptions{.lr = 0.01});
       }},
      {"SGD momentum", [](auto p) {
         return std::make_unique<kiln::optim::SGD>(
             p, kiln::optim::SGDOptions{.lr = 0.05, .momentum = 0.9, .nesterov = true});
       }}};
  for (auto& [name, make] : optimizers) {
    INFO(name);
    auto a = small_model(5);
    auto opt_a = make(a->parameters());
    train(*a, *opt_a, 0, 3);
    io::save_state(*a, tmp / "model.safetensors");
    io::save_safetensors(tmp / "optim.safetensors", opt_a->state());
    train(*a, *opt_a, 3, 5);

    auto b = small_model(6); // different initial values, overwritten by the load
    auto opt_b = make(b->parameters());
    io::load_state(*b, tmp / "model.safetensors");
    opt_b->load_state(io::load_safetensors(tmp / "optim.safetensors"));
    CHECK(opt_b->steps() == 3);
    train(*b, *opt_b, 3, 5);
    CHECK(values_of(io::state_dict(*b)) == values_of(io::state_dict(*a))); // bit for bit
  }
}
