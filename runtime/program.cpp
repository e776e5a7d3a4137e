#include "runtime/program.h"

#include "ir/error.h"
#include "ir/graph_parser.h"
#include "ir/graph_printer.h"
#include "ir/kernel_parser.h"
#include "passes/fusion_view.h"
#include "passes/pipeline.h"
#include "passes/schedule.h"
#include "runtime/config.h"
#include "runtime/dump.h"
#include "runtime/kernel_cache.h"
#include "runtime/profile.h"
#include "runtime/size_family.h"
#include "runtime/stats.h"

#include <algorithm>
#include <chrono>
#include <cstring>
#include <fmt/format.h>
#include <mutex>
#include <unordered_map>

namespace kiln {

namespace {

// print -> parse -> print of the program's graph and of each kernel must be the identity.
void check_roundtrip(const std::vector<Node*>& outputs, const Schedule& s) {
  std::string text = print_graph(outputs);
  std::string again = print_graph(parse_graph(text, {.source_name = "program"}).roots());
  if (again != text) fail("roundtrip", "graph text changed:\n{}\nbecame\n{}", text, again);
  for (auto& k : s.kernels) {
    std::string kt = print_kernel(k.kernel);
    std::string kt2 = print_kernel(parse_kernel(kt, k.kernel.name));
    if (kt2 != kt) fail("roundtrip", "kernel text changed:\n{}\nbecame\n{}", kt, kt2);
  }
}

// In-place updates: an output of a stage-free kernel writes over an input buffer that dies at
// this launch, when the kernel reads that input only at the index it stores the output to
// (each element is read before it is overwritten, in the same iteration).
void plan_in_place(Program& p) {
  for (auto& l : p.launches) {
    const Kernel& k = *l.kernel;
    l.reuse.assign(l.slots.size(), -1);
    if (!k.stages.empty()) continue;
    for (const KStore& st : k.stores) {
      int out = st.arg;
      if (std::count_if(k.stores.begin(), k.stores.end(),
                        [&](const KStore& s) { return s.arg == out; }) != 1)
        continue;
      for (size_t a = 0; a < l.slots.size(); ++a) {
        int in = l.slots[a];
        bool dies = std::find(l.release.begin(), l.release.end(), in) != l.release.end();
        bool taken = std::find(l.reuse.begin(), l.reuse.end(), in) != l.reuse.end();
        if (k.args[a].output || !dies || taken ||
            p.slots[in].numel != p.slots[l.slots[out]].numel ||
            dtype_size(p.slots[in].dtype) != dtype_size(p.slots[l.slots[out]].dtype))
          continue;
        bool same_index = std::all_of(k.insts.begin(), k.insts.end(), [&](const KInst& i) {
          return i.op != Op::Load || i.imm != static_cast<int64_t>(a) || i.a == st.index;
        });
        if (!same_index) continue;
        l.reuse[out] = in;
        break;
      }
    }
  }
}

} // namespace

std::shared_ptr<Program> compile_program(const std::vector<Node*>& outputs,
                                         const std::vector<Node*>& leaves,
                                         const std::vector<Node*>& params, const Backend& backend,
                                         SizeFamily* family, std::optional<int64_t> size) {
  auto t0 = std::chrono::steady_clock::now();
  PipelineOptions po;
  po.fusion = options().fusion;
  po.simplify = options().simplify;
  po.attention = backend.runs_attention();
  uint64_t program_hash = 0;
  for (Node* o : outputs) program_hash = hash_combine(program_hash, o->hash);
  set_dump_program(program_hash);
  if (!options().dump.empty())
    po.on_step = [](std::string_view step, const std::string& text) {
      bool pass = step != "graph" && step != "kernels"; // KILN_DUMP=passes: after every graph pass
      if (options().dumps(std::string(step)) || (pass && options().dumps("passes")))
        write_dump(step, step == "kernels" ? text.substr(7, text.find('(') - 7) : "", text);
    };
  Schedule s = run_pipeline(outputs, po);
  if (options().check_roundtrip) check_roundtrip(outputs, s);
  if (options().dumps("fused")) write_dump("fused", "", print_fused(s));

  auto p = std::make_shared<Program>();
  std::unordered_map<Node*, int> slot_of;
  for (Node* l : leaves) {
    slot_of[l] = static_cast<int>(p->slots.size());
    p->slots.push_back({l->dtype, l->numel()});
  }
  p->num_inputs = leaves.size();
  p->num_params = params.size();
  std::unordered_map<Node*, int> param_of;
  for (Node* n : params) param_of.emplace(n, static_cast<int>(param_of.size()));
  std::vector<int> last_use;
  std::vector<FusionGroup> groups =
      profile::enabled() ? fusion_groups(s) : std::vector<FusionGroup>{};
  std::vector<FamilyKernel> compiled;
  if (family) {
    if (size && family->wants_resized_samples()) family->add_resized_samples(outputs, po);
    compiled = family->compile(s.kernels, size, backend);
  } else {
    std::vector<const Kernel*> ks;
    for (auto& lk : s.kernels) ks.push_back(&lk.kernel);
    for (TimedKernel& t : cached_compile_all(ks, backend)) compiled.push_back({t});
  }
  bool resized = false, compiled_now = false;
  for (size_t i = 0; i < s.kernels.size(); ++i) {
    const LoweredKernel& lk = s.kernels[i];
    const TimedKernel& tk = compiled[i].compiled;
    const CachedKernel& ck = tk.kernel;
    Program::Launch launch;
    if (profile::enabled() && i < groups.size())
      profile::kernel_compiled(groups[i], tk.start, tk.seconds, ck.from_cache);
    launch.backend = ck.backend;
    launch.exe = ck.exe;
    launch.kernel = compiled[i].takes_size ? std::make_shared<const Kernel>(lk.kernel) : ck.kernel;
    resized = resized || compiled[i].takes_size;
    compiled_now = compiled_now || compiled[i].compiled_now;
    for (size_t a = 0; a < lk.args.size(); ++a) {
      Node* n = lk.args[a];
      if (lk.kernel.args[a].output) {
        slot_of[n] = static_cast<int>(p->slots.size());
        p->slots.push_back({n->dtype, n->numel()});
      }
      auto it = slot_of.find(n);
      if (it == slot_of.end())
        fail("program", "kernel {} reads a buffer no earlier kernel writes", lk.kernel.name);
      launch.slots.push_back(it->second);
    }
    for (Node* n : lk.params) launch.params.push_back(param_of.at(n));
    if (compiled[i].takes_size) {
      launch.params.push_back(static_cast<int>(params.size()));
      p->size = size;
    }
    p->launches.push_back(std::move(launch));
  }
  for (auto& o : s.graph.outputs) {
    Node* src = storage_source(o.get());
    // A simplified output may be a realized input itself (x * 1): the output aliases it.
    auto it = slot_of.find(src);
    if (it == slot_of.end()) fail("program", "output {} has no buffer", op_name(o->op));
    p->output_slots.push_back(it->second);
  }
  // Free each intermediate after its last reader.
  std::vector<int> last(p->slots.size(), -1);
  for (size_t l = 0; l < p->launches.size(); ++l)
    for (int sl : p->launches[l].slots) last[sl] = static_cast<int>(l);
  for (int o : p->output_slots) last[o] = -1;
  for (size_t sl = p->num_inputs; sl < p->slots.size(); ++sl)
    if (last[sl] >= 0) p->launches[last[sl]].release.push_back(static_cast<int>(sl));
  plan_in_place(*p);
  // Peak: what is allocated at once; an in-place output takes over its input's bytes.
  auto bytes = [&](int sl) {
    return p->slots[sl].numel * static_cast<int64_t>(dtype_size(p->slots[sl].dtype));
  };
  std::vector<bool> handed_over(p->slots.size(), false);
  int64_t live = 0;
  for (const auto& l : p->launches) {
    for (size_t a = 0; a < l.slots.size(); ++a) {
      if (!l.kernel->args[a].output) continue;
      if (l.reuse[a] >= 0)
        handed_over[l.reuse[a]] = true;
      else
        live += bytes(l.slots[a]);
    }
    p->peak_bytes = std::max(p->peak_bytes, live);
    for (int r : l.release)
      if (!handed_over[r]) live -= bytes(r);
  }
  auto& st = mutable_stats();
  // A new size of a family whose kernels were all compiled before: no program compiled.
  ++(resized && !compiled_now ? st.programs_resized : st.programs_compiled);
  st.compile_seconds +=
      std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  return p;
}

std::vector<std::shared_ptr<Storage>>
run_program(const Program& p, const std::vector<std::shared_ptr<Storage>>& inputs,
            const std::vector<Scalar>& params) {
  // Each parameter as the kernel reads it: an 8-byte slot holding a value of its dtype.
  std::vector<uint64_t> param_bits(params.size() + 1);
  const Scalar size{0, p.size.value_or(0)};
  std::vector<std::shared_ptr<Storage>> buf(p.slots.size());
  for (size_t i = 0; i < p.num_inputs; ++i) buf[i] = inputs[i];
  std::vector<void*> args;
  for (const auto& l : p.launches) {
    const Kernel& k = *l.kernel;
    args.clear();
    for (size_t a = 0; a < l.slots.size(); ++a) {
      auto& b = buf[l.slots[a]];
      if (k.args[a].output)
        b = l.reuse[a] >= 0 ? buf[l.reuse[a]]
                            : l.backend->allocate(p.slots[l.slots[a]].numel *
                                                  dtype_size(p.slots[l.slots[a]].dtype));
      args.push_back(b->data);
    }
    for (size_t i = 0; i < l.params.size(); ++i) {
      int pi = l.params[i];
      DType t = k.params.size() > i ? k.params[i] : DType::I64; // the size, past k's own
      const Scalar& value = pi < static_cast<int>(params.size()) ? params[pi] : size;
      dispatch_dtype(t, [&](auto x) {
        using T = decltype(x);
        T v;
        if constexpr (std::is_floating_point_v<T>)
          v = static_cast<T>(value.f);
        else
          v = static_cast<T>(value.i);
        std::memcpy(&param_bits[pi], &v, sizeof(T));
      });
      args.push_back(&param_bits[pi]);
    }
    if (k.domain_size() > 0) {
      double start = profile::enabled() ? profile::now() : 0;
      l.backend->launch(*l.exe, args.data());
      if (profile::enabled()) {
        int64_t bytes = 0;
        for (int sl : l.slots) bytes += p.slots[sl].numel * dtype_size(p.slots[sl].dtype);
        profile::kernel_launched(k, start, profile::now() - start, bytes);
      }
      ++mutable_stats().kernels_launched;
    }
    for (int r : l.release) buf[r].reset();
  }
  mutable_stats().last_program_peak_bytes = p.peak_bytes;
  std::vector<std::shared_ptr<Storage>> out;
  for (int o : p.output_slots) out.push_back(buf[o]);
  return out;
}

} // namespace kiln
