// gradtx single-pass optimiser steps (update + apply_updates), float32, in place.
//
// One FFI handler, gradtx_step_f32, runs one optimiser step over EVERY leaf of a params
// tree in one call: the leaves are split into work items of at most 2^16 elements and the
// items are spread over XLA's intra-op thread pool, so a tree of many small leaves runs
// as fast as one flat buffer.
//
// Operands: scal, a (num_leaves, kNumScal) float32 matrix (one row of scalars per leaf),
// then for each leaf p, g, s_1..s_S (S = num_state state arrays). Results: for each leaf
// p', s_1'..s_S', aliased to the inputs (input_output_aliases), so the update is in place.
// The `rule` attribute names the per-element rule (enum Rule below); the scalars are:
//   Adam family: [1-b1, b1, 1-b2, b2, 1/c1, 1/c2, eps, eps_root, -lr, wd, 1/c1(t+1), r, rect,
//                 d, c]  (Lion, AdaMax, AdaBelief and RAdam use the same slots; r and rect
//                 are RAdam's rectification factor and its switch, 1 or 0)
//   one state:   [k0, k1, k2, k3, -lr, 0, ..., d, c]   (k's as in one_state_range)
// and each rule reads the gradient as (g / d) * c: a clip_by_global_norm (d = the norm,
// c = max_norm) or scale(c) link folded into the kernel, with the same rounding as the
// separate pure-JAX link. d = c = 1 (no folded link) reads g itself.
#include <algorithm>
#include <atomic>
#include <cmath>
#include <cstdint>
#include <memory>
#include <vector>

#include "xla/ffi/api/ffi.h"

namespace ffi = xla::ffi;
using Buf = ffi::Buffer<ffi::F32>;        // an f32 operand
using Res = ffi::ResultBuffer<ffi::F32>;  // an f32 result (aliased to an operand)

namespace {

constexpr int64_t kNumScal = 15;
constexpr int64_t kMaxState = 3;

enum Rule : int32_t {
  kAdam = 0,       // scale_by_adam                     (S = 2: mu, nu)
  kYogi = 1,       // scale_by_yogi                     (S = 2)
  kNadam = 2,      // scale_by_adam(nesterov=True)      (S = 2)
  kAmsgrad = 3,    // scale_by_amsgrad                  (S = 3: mu, nu, nu_max)
  kTrace = 4,      // trace (SGD momentum)              (S = 1)
  kNesterov = 5,   // trace(nesterov=True)              (S = 1)
  kRss = 6,        // scale_by_rss (Adagrad)            (S = 1)
  kRmsEpsIn = 7,   // scale_by_rms, eps in the root     (S = 1)
  kRmsEpsOut = 8,  // scale_by_rms, eps outside         (S = 1)
  kLion = 9,       // scale_by_lion (mode="hard")        (S = 1: mu)
  kAdamax = 10,    // scale_by_adamax                   (S = 2: mu, nu)
  kBelief = 11,    // scale_by_belief                   (S = 2: mu, nu)
  kRadam = 12,     // scale_by_radam                    (S = 2: mu, nu)
};

int64_t num_state(int32_t rule) {
  switch (rule) {
    case kAdam: case kYogi: case kNadam: case kAdamax: case kBelief: case kRadam: return 2;
    case kLion: return 1;
    case kAmsgrad: return 3;
    case kTrace: case kNesterov: case kRss: case kRmsEpsIn: case kRmsEpsOut: return 1;
    default: return -1;
  }
}

// Runs item(k) for k in [0, items). Items are claimed from a shared counter by the calling
// thread and by helper tasks on XLA's intra-op pool. The caller only waits for items
// already claimed, so a busy pool cannot deadlock it; late helpers find no work and exit
// (the counters are shared_ptr-owned).
template <typename Item>
void parallel_for(ffi::ThreadPool& pool, int64_t items, Item item) {
  const int64_t helpers = std::min<int64_t>(pool.num_threads(), items - 1);
  if (helpers <= 0) {
    for (int64_t k = 0; k < items; ++k) item(k);
    return;
  }
  struct Shared { std::atomic<int64_t> next{0}; std::atomic<int64_t> done{0}; };
  auto sh = std::make_shared<Shared>();
  auto work = [=]() {
    int64_t k;
    while ((k = sh->next.fetch_add(1, std::memory_order_relaxed)) < items) {
      item(k);
      sh->done.fetch_add(1, std::memory_order_release);
    }
  };
  for (int64_t t = 0; t < helpers; ++t) pool.Schedule(decltype(work)(work));
  work();
  while (sh->done.load(std::memory_order_acquire) < items) {
  }
}

// A buffer's element count as a signed 64-bit integer.
template <typename B>
int64_t count(const B& b) { return static_cast<int64_t>(b.element_count()); }

// The gradient as the rule sees it: g, or (g / d) * c for a folded scaling link.
template <bool Scaled>
inline float grad(const float* __restrict g, int64_t i, float d, float c) {
  if constexpr (Scaled) {
    return (g[i] / d) * c;
  } else {
    (void)d;
    (void)c;
    return g[i];
  }
}

struct AdamScal {
  float omb1, b1, omb2, b2, ic1, ic2, eps, eps_root, neg_lr, wd, ic1n, r, rect, d, c;
};

// Adam; Yogi's second moment v - (1-b2) sign(v - g^2) g^2 (sign(0) = 0); NAdam's first
// moment estimate b1 m_t / c1(t+1) + (1-b1) g_t / c1(t). Decay: AdamW's decoupled weight
// decay u <- u + wd * p (only when wd != 0, so a non-finite p is not turned into NaN by
// 0 * p).
template <int32_t K, bool Decay, bool Scaled>
void adam_range(const float* __restrict g, float* __restrict p, float* __restrict m,
                float* __restrict v, int64_t lo, int64_t hi, const AdamScal& s) {
  for (int64_t i = lo; i < hi; ++i) {
    const float gi = grad<Scaled>(g, i, s.d, s.c);
    const float mn = s.omb1 * gi + s.b1 * m[i];
    float vn;
    if constexpr (K == kYogi) {
      const float g2 = gi * gi;
      const float d = v[i] - g2;
      const float sign = d > 0.0f ? 1.0f : (d < 0.0f ? -1.0f : 0.0f);
      vn = v[i] - s.omb2 * sign * g2;
    } else {
      vn = s.omb2 * (gi * gi) + s.b2 * v[i];
    }
    const float mh = (K == kNadam) ? s.b1 * mn * s.ic1n + s.omb1 * gi * s.ic1 : mn * s.ic1;
    float u = mh / (std::sqrt(vn * s.ic2 + s.eps_root) + s.eps);
    if (Decay) u = u + s.wd * p[i];
    p[i] = p[i] + s.neg_lr * u;
    m[i] = mn;
    v[i] = vn;
  }
}

// AMSGrad: Adam with v_max = max(v_max, v / c2) (NaN-propagating, as jnp.maximum).
template <bool Scaled>
void amsgrad_range(const float* __restrict g, float* __restrict p, float* __restrict m,
                   float* __restrict v, float* __restrict vmax, int64_t lo, int64_t hi,
                   const AdamScal& s) {
  for (int64_t i = lo; i < hi; ++i) {
    const float gi = grad<Scaled>(g, i, s.d, s.c);
    const float mn = s.omb1 * gi + s.b1 * m[i];
    const float vn = s.omb2 * (gi * gi) + s.b2 * v[i];
    const float vh = vn * s.ic2;
    const float old = vmax[i];
    const float vm = (vh > old || vh != vh) ? vh : old;
    const float u = (mn * s.ic1) / (std::sqrt(vm + s.eps_root) + s.eps);
    p[i] = p[i] + s.neg_lr * u;
    m[i] = mn;
    v[i] = vn;
    vmax[i] = vm;
  }
}

struct OneScal { float k0, k1, k2, k3, neg_lr, d, c; };

template <int32_t K, bool Scaled>
void one_state_range(const float* __restrict g, float* __restrict p, float* __restrict s,
                     int64_t lo, int64_t hi, const OneScal& k) {
  for (int64_t i = lo; i < hi; ++i) {
    const float gi = grad<Scaled>(g, i, k.d, k.c);
    float sn, u;
    if constexpr (K == kTrace || K == kNesterov) {  // k0 = momentum
      sn = gi + k.k0 * s[i];
      u = (K == kNesterov) ? gi + k.k0 * sn : sn;
    } else if constexpr (K == kRss) {  // k0 = eps
      sn = s[i] + gi * gi;
      const float r = 1.0f / std::sqrt(sn + k.k0);  // unconditional, so the loop vectorises
      u = (sn > 0.0f ? r : 0.0f) * gi;
    } else {  // k0 = 1-decay, k1 = decay, k2 = 1/bias correction, k3 = eps
      sn = k.k0 * (gi * gi) + k.k1 * s[i];
      const float var = sn * k.k2;
      u = ((K == kRmsEpsIn) ? 1.0f / std::sqrt(var + k.k3)
                            : 1.0f / (std::sqrt(var) + k.k3)) * gi;
    }
    p[i] = p[i] + k.neg_lr * u;
    s[i] = sn;
  }
}

// One leaf's pointers: its gradient, and params then state (read and written in place).
struct Leaf {
  const float* g;
  float* x[1 + kMaxState];
  const float* scal;
  int64_t n;
};

// Lion (mode "hard"): u = sign((1-b1) g + b1 m) (NaN-propagating, as jnp.sign),
// m <- (1-b2) g + b2 m; decay as AdamW.
template <bool Decay, bool Scaled>
void lion_range(const float* __restrict g, float* __restrict p, float* __restrict m,
                int64_t lo, int64_t hi, const AdamScal& s) {
  for (int64_t i = lo; i < hi; ++i) {
    const float gi = grad<Scaled>(g, i, s.d, s.c);
    const float ci = s.omb1 * gi + s.b1 * m[i];
    float u = ci > 0.0f ? 1.0f : (ci < 0.0f ? -1.0f : ci);
    if (Decay) u = u + s.wd * p[i];
    p[i] = p[i] + s.neg_lr * u;
    m[i] = s.omb2 * gi + s.b2 * m[i];
  }
}

// AdaMax: v <- max(|g| + eps, b2 v) (NaN-propagating, as jnp.maximum), u = m / c1 / v.
template <bool Decay, bool Scaled>
void adamax_range(const float* __restrict g, float* __restrict p, float* __restrict m,
                  float* __restrict v, int64_t lo, int64_t hi, const AdamScal& s) {
  for (int64_t i = lo; i < hi; ++i) {
    const float gi = grad<Scaled>(g, i, s.d, s.c);
    const float mn = s.omb1 * gi + s.b1 * m[i];
    const float a = std::fabs(gi) + s.eps;
    const float b = s.b2 * v[i];
    const float vn = (a > b || a != a) ? a : b;
    float u = (mn * s.ic1) / vn;
    if (Decay) u = u + s.wd * p[i];
    p[i] = p[i] + s.neg_lr * u;
    m[i] = mn;
    v[i] = vn;
  }
}

// AdaBelief (K = kBelief): s <- (1-b2)(g - m_t)^2 + b2 s + eps_root; RAdam (K = kRadam):
// Adam's moments, u = r m_hat / (sqrt(v_hat + eps_root) + eps) when rectified, else
// m_hat (Rect = false). Nesterov: NAdam's m_hat, as adam_range's kNadam.
template <int32_t K, bool Nesterov, bool Rect, bool Decay, bool Scaled>
void belief_radam_range(const float* __restrict g, float* __restrict p, float* __restrict m,
                        float* __restrict v, int64_t lo, int64_t hi, const AdamScal& s) {
  for (int64_t i = lo; i < hi; ++i) {
    const float gi = grad<Scaled>(g, i, s.d, s.c);
    const float mn = s.omb1 * gi + s.b1 * m[i];
    float vn;
    if constexpr (K == kBelief) {
      const float e = gi - mn;
      vn = (s.omb2 * (e * e) + s.b2 * v[i]) + s.eps_root;
    } else {
      vn = s.omb2 * (gi * gi) + s.b2 * v[i];
    }
    const float mh = Nesterov ? s.b1 * mn * s.ic1n + s.omb1 * gi * s.ic1 : mn * s.ic1;
    float u;
    if constexpr (K == kBelief) {
      u = mh / (std::sqrt(vn * s.ic2) + s.eps);
    } else if constexpr (Rect) {
      u = s.r * mh / (std::sqrt(vn * s.ic2 + s.eps_root) + s.eps);
    } else {
      u = mh;
    }
    if (Decay) u = u + s.wd * p[i];
    p[i] = p[i] + s.neg_lr * u;
    m[i] = mn;
    v[i] = vn;
  }
}

template <int32_t K, bool Nesterov, bool Rect, bool Scaled>
void belief_radam_as(const Leaf& l, int64_t lo, int64_t hi, const AdamScal& s) {
  if (s.wd != 0.0f) {
    belief_radam_range<K, Nesterov, Rect, true, Scaled>(l.g, l.x[0], l.x[1], l.x[2], lo, hi, s);
  } else {
    belief_radam_range<K, Nesterov, Rect, false, Scaled>(l.g, l.x[0], l.x[1], l.x[2], lo, hi, s);
  }
}

// The rules of issue 14 (Lion, AdaMax, AdaBelief, RAdam), each with or without decay.
template <bool Scaled>
void run_elementwise_range(int32_t rule, const Leaf& l, int64_t lo, int64_t hi,
                           const AdamScal& s) {
  const bool decay = s.wd != 0.0f, nesterov = s.ic1n != 0.0f;
  float* p = l.x[0];
  switch (rule) {
    case kLion:
      if (decay) lion_range<true, Scaled>(l.g, p, l.x[1], lo, hi, s);
      else lion_range<false, Scaled>(l.g, p, l.x[1], lo, hi, s);
      break;
    case kAdamax:
      if (decay) adamax_range<true, Scaled>(l.g, p, l.x[1], l.x[2], lo, hi, s);
      else adamax_range<false, Scaled>(l.g, p, l.x[1], l.x[2], lo, hi, s);
      break;
    case kBelief:
      if (nesterov) belief_radam_as<kBelief, true, true, Scaled>(l, lo, hi, s);
      else belief_radam_as<kBelief, false, true, Scaled>(l, lo, hi, s);
      break;
    default:  // kRadam
      if (s.rect != 0.0f) {
        if (nesterov) belief_radam_as<kRadam, true, true, Scaled>(l, lo, hi, s);
        else belief_radam_as<kRadam, false, true, Scaled>(l, lo, hi, s);
      } else {
        if (nesterov) belief_radam_as<kRadam, true, false, Scaled>(l, lo, hi, s);
        else belief_radam_as<kRadam, false, false, Scaled>(l, lo, hi, s);
      }
      break;
  }
}

template <bool Scaled>
void run_range_as(int32_t rule, const Leaf& l, int64_t lo, int64_t hi) {
  const float* c = l.scal;
  float* p = l.x[0];
  if (rule == kAdam || rule == kYogi || rule == kNadam || rule == kAmsgrad || rule >= kLion) {
    const AdamScal s{c[0], c[1], c[2],  c[3],  c[4],  c[5],  c[6], c[7],
                     c[8], c[9], c[10], c[11], c[12], c[13], c[14]};
    if (rule >= kLion) {
      run_elementwise_range<Scaled>(rule, l, lo, hi, s);
      return;
    }
    const bool decay = s.wd != 0.0f;
    switch (rule) {
      case kYogi: adam_range<kYogi, false, Scaled>(l.g, p, l.x[1], l.x[2], lo, hi, s); break;
      case kAmsgrad: amsgrad_range<Scaled>(l.g, p, l.x[1], l.x[2], l.x[3], lo, hi, s); break;
      case kNadam:
        if (decay) adam_range<kNadam, true, Scaled>(l.g, p, l.x[1], l.x[2], lo, hi, s);
        else adam_range<kNadam, false, Scaled>(l.g, p, l.x[1], l.x[2], lo, hi, s);
        break;
      default:
        if (decay) adam_range<kAdam, true, Scaled>(l.g, p, l.x[1], l.x[2], lo, hi, s);
        else adam_range<kAdam, false, Scaled>(l.g, p, l.x[1], l.x[2], lo, hi, s);
        break;
    }
    return;
  }
  const OneScal k{c[0], c[1], c[2], c[3], c[4], c[13], c[14]};
  switch (rule) {
    case kTrace: one_state_range<kTrace, Scaled>(l.g, p, l.x[1], lo, hi, k); break;
    case kNesterov: one_state_range<kNesterov, Scaled>(l.g, p, l.x[1], lo, hi, k); break;
    case kRss: one_state_range<kRss, Scaled>(l.g, p, l.x[1], lo, hi, k); break;
    case kRmsEpsIn: one_state_range<kRmsEpsIn, Scaled>(l.g, p, l.x[1], lo, hi, k); break;
    default: one_state_range<kRmsEpsOut, Scaled>(l.g, p, l.x[1], lo, hi, k); break;
  }
}

void run_range(int32_t rule, const Leaf& l, int64_t lo, int64_t hi) {
  if (l.scal[kNumScal - 2] != 1.0f || l.scal[kNumScal - 1] != 1.0f) {
    run_range_as<true>(rule, l, lo, hi);
  } else {
    run_range_as<false>(rule, l, lo, hi);
  }
}

ffi::Error StepImpl(ffi::ThreadPool pool, Buf scal, ffi::RemainingArgs args,
                    ffi::RemainingRets rets, int32_t rule) {
  const int64_t s_count = num_state(rule);
  if (s_count < 0) return ffi::Error::InvalidArgument("gradtx_step_f32: unknown rule");
  const int64_t per_in = 2 + s_count, per_out = 1 + s_count;
  const int64_t num_leaves = static_cast<int64_t>(args.size()) / per_in;
  if (static_cast<int64_t>(args.size()) != num_leaves * per_in ||
      static_cast<int64_t>(rets.size()) != num_leaves * per_out ||
      count(scal) != num_leaves * kNumScal) {
    return ffi::Error::InvalidArgument("gradtx_step_f32: operand counts do not match");
  }
  constexpr int64_t kBlock = int64_t(1) << 16;
  std::vector<Leaf> leaves(static_cast<size_t>(num_leaves));
  std::vector<int64_t> first_item(static_cast<size_t>(num_leaves) + 1, 0);
  for (int64_t j = 0; j < num_leaves; ++j) {
    Leaf& l = leaves[static_cast<size_t>(j)];
    auto p = args.get<Buf>(static_cast<size_t>(j * per_in));
    auto g = args.get<Buf>(static_cast<size_t>(j * per_in + 1));
    if (p.has_error()) return p.error();
    if (g.has_error()) return g.error();
    l.n = count(*p);
    if (count(*g) != l.n) {
      return ffi::Error::InvalidArgument("gradtx_step_f32: a gradient's size differs");
    }
    l.g = g->typed_data();
    l.scal = scal.typed_data() + j * kNumScal;
    for (int64_t i = 0; i < per_out; ++i) {
      auto in = args.get<Buf>(static_cast<size_t>(j * per_in + (i == 0 ? 0 : 1 + i)));
      auto out = rets.get<Buf>(static_cast<size_t>(j * per_out + i));
      if (in.has_error()) return in.error();
      if (out.has_error()) return out.error();
      if (count(*in) != l.n || count(**out) != l.n) {
        return ffi::Error::InvalidArgument("gradtx_step_f32: a state array's size differs");
      }
      float* o = (*out)->typed_data();
      // Outputs alias the inputs; copy only if XLA did not alias them.
      if (o != in->typed_data()) std::copy_n(in->typed_data(), l.n, o);
      l.x[i] = o;
    }
    first_item[static_cast<size_t>(j) + 1] =
        first_item[static_cast<size_t>(j)] + (l.n + kBlock - 1) / kBlock;
  }
  const int64_t items = first_item.back();
  const Leaf* L = leaves.data();
  const int64_t* F = first_item.data();
  parallel_for(pool, items, [=](int64_t k) {
    // the leaf holding item k: the last j with F[j] <= k
    const int64_t j = std::upper_bound(F, F + num_leaves + 1, k) - F - 1;
    const int64_t lo = (k - F[j]) * kBlock;
    run_range(rule, L[j], lo, std::min(L[j].n, lo + kBlock));
  });
  return ffi::Error::Success();
}

}  // namespace

XLA_FFI_DEFINE_HANDLER_SYMBOL(GradtxStepF32, StepImpl,
                              ffi::Ffi::Bind()
                                  .Ctx<ffi::ThreadPool>()
                                  .Arg<Buf>()
                                  .RemainingArgs()
                                  .RemainingRets()
                                  .Attr<int32_t>("rule"));
