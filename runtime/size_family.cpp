#include "runtime/size_family.h"

#include "ir/error.h"
#include "ir/resize.h"
#include "passes/generalise.h"
#include "runtime/disk_cache.h"

#include <algorithm>
#include <deque>
#include <fmt/format.h>
#include <fmt/ranges.h>

namespace kiln {
namespace {

constexpr size_t kSamplesKept = 3; // a quadratic fit (attention's T*T) needs three

void explain(const std::string& what) {
  if (disk_cache_options().explain) fmt::print(stderr, "kiln sizes: {}\n", what);
}

bool instantiates_to(const Kernel& sym, int64_t size, const Kernel& k) {
  try {
    return instantiate(sym, size) == k;
  } catch (const Error&) { // an extent negative at this size
    return false;
  }
}

// "axis 0 of the f32[126, 784] tensor marked at bench_dynamic.cpp:56"
std::string mark_origin(const Node& m) {
  return fmt::format("axis {} of the {}{} tensor marked at {}:{}", m.dynamic_axis,
                     dtype_name(m.dtype), shape_str(m.shape), m.loc.file_name(), m.loc.line());
}

} // namespace

std::vector<int64_t> graph_dims(const std::vector<Node*>& order) {
  std::vector<int64_t> d;
  for (Node* n : order) d.insert(d.end(), n->shape.begin(), n->shape.end());
  return d;
}

int marked_dim(const std::vector<Node*>& order, const Node& marked) {
  int at = 0;
  for (Node* n : order) {
    if (n == &marked) return at + marked.dynamic_axis;
    at += static_cast<int>(n->shape.size());
  }
  fail("realize", "a marked node is not in its graph");
}

void explain_ignored_mark(const Node& marked, std::string_view backend) {
  explain(fmt::format("backend {} runs no symbolic kernels, so {} is ignored: each size compiles",
                      backend, mark_origin(marked)));
}

std::optional<int64_t> SizeFamily::observe(const std::vector<int64_t>& dims) {
  if (axis_ >= 0) return dims.at(axis_);
  if (!seen_) {
    seen_ = true;
    first_dims_ = dims;
    return std::nullopt;
  }
  if (dims.size() != first_dims_.size())
    fail("program", "one structure with {} and {} dimensions", first_dims_.size(), dims.size());
  int best = -1;
  for (size_t i = 0; i < dims.size(); ++i)
    if (dims[i] != first_dims_[i] && (best < 0 || dims[i] < dims[best])) best = static_cast<int>(i);
  if (best < 0) return std::nullopt; // other literals, same sizes
  axis_ = best;
  explain(fmt::format("a program came back with dimension #{} of its graph changed from {} to {}: "
                      "its kernels that depend on it compile once more, for every size",
                      axis_, first_dims_[axis_], dims[axis_]));
  return dims[axis_];
}

void SizeFamily::mark(const std::vector<int64_t>& dims, int dim, const Node& marked) {
  if (axis_ >= 0) return;
  if (!seen_) {
    seen_ = true;
    first_dims_ = dims;
  }
  axis_ = dim;
  marked_ = true;
  explain(fmt::format("dimension #{} of a new structure is symbolic from its first size, {}: {}",
                      dim, dims.at(dim), mark_origin(marked)));
}

std::vector<SizeFamily::Pool*> SizeFamily::pools_of(const std::vector<LoweredKernel>& kernels) {
  std::vector<Pool*> pools;
  std::unordered_map<std::string, int> seen_prefix;
  for (const LoweredKernel& lk : kernels) {
    std::string prefix(kernel_name_prefix(lk.kernel.name));
    pools.push_back(&pools_[fmt::format("{}#{}", prefix, seen_prefix[prefix]++)]);
  }
  return pools;
}

void SizeFamily::add_resized_samples(const std::vector<Node*>& outputs, PipelineOptions po) {
  po.on_step = nullptr; // KILN_DUMP shows the program, not these copies
  std::string why;
  std::vector<int64_t> sizes;
  // Two copies, so that a quadratic extent (attention's T*T) fits at the first size too.
  for (int64_t above = 0; sizes.size() < 2;) {
    auto g = resize_marked(outputs, &why, above);
    if (!g) break;
    std::vector<Node*> roots;
    for (auto& r : g->roots) roots.push_back(r.get());
    try {
      std::vector<LoweredKernel> kernels = run_pipeline(roots, po).kernels;
      std::vector<Pool*> pools = pools_of(kernels);
      for (size_t i = 0; i < kernels.size(); ++i)
        pools[i]->samples.push_back(
            {g->to, std::make_shared<const Kernel>(kernels[i].kernel), /*guess=*/true});
    } catch (const Error& e) {
      why = e.what();
      break;
    }
    sizes.push_back(above = g->to);
  }
  if (!sizes.empty())
    explain(
        fmt::format("the graph lowered once more at sizes {} to fit from", fmt::join(sizes, ", ")));
  else
    explain(fmt::format("no resized copy of the graph ({}): its kernels compile for their first "
                        "size and fit at the next",
                        why));
}

bool SizeFamily::Pool::has_guesses() const {
  return std::any_of(samples.begin(), samples.end(), [](const Sample& s) { return s.guess; });
}

// A kernel lowered at a size becomes the most recent sample, replacing one of its size. Guesses
// go once kernels lowered at two sizes can be fit from.
void SizeFamily::remember(Pool& pool, Sample s) const {
  auto& ss = pool.samples;
  ss.erase(std::remove_if(ss.begin(), ss.end(),
                          [&](const Sample& o) { return s.size && size_of(o) == *s.size; }),
           ss.end());
  ss.push_back(std::move(s));
  if (std::count_if(ss.begin(), ss.end(), [](const Sample& o) { return !o.guess; }) >= 2)
    ss.erase(std::remove_if(ss.begin(), ss.end(), [](const Sample& o) { return o.guess; }),
             ss.end());
  if (ss.size() > kSamplesKept) ss.erase(ss.begin());
}

const CachedKernel* SizeFamily::find_symbolic(const Pool& pool, const Kernel& k,
                                              int64_t size) const {
  for (const CachedKernel& c : pool.symbolic)
    if (instantiates_to(*c.kernel, size, k)) return &c;
  return nullptr;
}

// A symbolic kernel through k and samples of other sizes, the most recent first: from three
// (which a quadratic extent needs), else from two. Every sample used is checked by instantiating.
std::optional<Kernel> SizeFamily::fit(const Pool& pool, const Kernel& k, int64_t size) const {
  // Guesses only where no kernel lowered at another size can stand in for them.
  bool lowered = std::any_of(pool.samples.begin(), pool.samples.end(),
                             [&](const Sample& s) { return !s.guess && size_of(s) != size; });
  std::vector<const Sample*> others;
  for (auto it = pool.samples.rbegin(); it != pool.samples.rend(); ++it)
    if (size_of(*it) != size && !(lowered && it->guess)) others.push_back(&*it);
  std::vector<std::vector<const Sample*>> tries;
  if (others.size() >= 2) tries.push_back({others[0], others[1]});
  for (const Sample* s : others) tries.push_back({s});
  std::string why;
  for (auto& t : tries) {
    std::vector<SizedKernel> samples = {{size, &k}};
    for (const Sample* s : t) samples.push_back({size_of(*s), s->kernel.get()});
    auto sym = generalise(samples, &why);
    if (sym && std::all_of(samples.begin(), samples.end(), [&](const SizedKernel& s) {
          return instantiates_to(*sym, s.size, *s.kernel);
        })) {
      std::string sizes = std::to_string(size);
      for (const Sample* s : t) sizes += fmt::format(", {}", size_of(*s));
      explain(fmt::format("{} compiles for every size, fit at sizes {}", k.name, sizes));
      return sym;
    }
  }
  explain(tries.empty() ? fmt::format("{} is new at size {}: compiled for it", k.name, size)
                        : fmt::format("{} stays concrete at size {}: {}", k.name, size, why));
  return std::nullopt;
}

SizeFamily::Choice SizeFamily::choose(Pool& pool, const Kernel& k, std::optional<int64_t> size) {
  // Equal to a sample lowered before, or to a guess at another size: a kernel that does not
  // depend on the size, a cache hit.
  bool sampled = std::any_of(pool.samples.begin(), pool.samples.end(), [&](const Sample& s) {
    return *s.kernel == k && (!s.guess || !size || size_of(s) != *size);
  });
  if (sampled) return {Choice::Sampled};
  if (!size) return {Choice::New};
  // While guesses stand in for lowered kernels, this one is worth more than they are.
  if (pool.has_guesses()) remember(pool, {size, std::make_shared<const Kernel>(k)});
  if (const CachedKernel* hit = find_symbolic(pool, k, *size)) return {Choice::SymbolicHit, hit};
  if (auto sym = fit(pool, k, *size)) return {Choice::Fitted, nullptr, std::move(sym)};
  return {Choice::New};
}

std::vector<Kernel> SizeFamily::fitted(const std::vector<LoweredKernel>& kernels, int64_t size) {
  std::vector<Pool*> pool_of = pools_of(kernels);
  std::vector<Kernel> out;
  for (size_t i = 0; i < kernels.size(); ++i) {
    Choice c = choose(*pool_of[i], kernels[i].kernel, size);
    out.push_back(c.hit ? *c.hit->kernel : c.fit ? std::move(*c.fit) : kernels[i].kernel);
  }
  return out;
}

std::vector<FamilyKernel> SizeFamily::compile(const std::vector<LoweredKernel>& kernels,
                                              std::optional<int64_t> size, const Backend& backend) {
  std::vector<FamilyKernel> out(kernels.size());
  std::vector<Pool*> pool_of = pools_of(kernels);
  std::deque<Kernel> fitted; // stable addresses while they compile
  std::vector<const Kernel*> to_compile;
  std::vector<size_t> compiled_for, new_samples;
  for (size_t i = 0; i < kernels.size(); ++i) {
    const Kernel& k = kernels[i].kernel;
    Choice c = choose(*pool_of[i], k, size);
    if (c.kind == Choice::SymbolicHit) {
      out[i].compiled.kernel = *c.hit;
      out[i].compiled.kernel.from_cache = true;
      out[i].takes_size = true;
      continue;
    }
    if (c.kind == Choice::Fitted) {
      fitted.push_back(std::move(*c.fit));
      out[i].takes_size = out[i].compiled_now = true;
    }
    to_compile.push_back(c.kind == Choice::Fitted ? &fitted.back() : &k);
    compiled_for.push_back(i);
    if (c.kind == Choice::New) new_samples.push_back(i);
  }
  std::vector<TimedKernel> done = cached_compile_all(to_compile, backend);
  for (size_t j = 0; j < done.size(); ++j) {
    FamilyKernel& f = out[compiled_for[j]];
    Pool& pool = *pool_of[compiled_for[j]];
    f.compiled = done[j];
    f.compiled_now = f.compiled_now || !done[j].kernel.from_cache;
    if (f.takes_size) { // equal kernels of one program fit alike: keep one
      if (!find_symbolic(pool, kernels[compiled_for[j]].kernel, *size))
        pool.symbolic.push_back(f.compiled.kernel);
      continue;
    }
    if (std::find(new_samples.begin(), new_samples.end(), compiled_for[j]) == new_samples.end())
      continue;
    remember(pool, {size, done[j].kernel.kernel});
  }
  return out;
}

} // namespace kiln
