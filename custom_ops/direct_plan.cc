#include "direct_plan.h"

#include <algorithm>
#include <cstdlib>
#include <cstring>
#include <limits>

#include "isa_select.h"
#include "tensorflow/core/platform/errors.h"

namespace akida_ops {
namespace {

using tensorflow::errors::InvalidArgument;

constexpr int64_t kInt32Max = std::numeric_limits<int32_t>::max();
constexpr int64_t kInt16Max = std::numeric_limits<int16_t>::max();
// Scratch of one work item on one thread (potentials tile + pointwise operands): with the
// layer's input and output buffers it should stay in the per-core L2 cache (1 MiB or more on
// the CPUs with the wide kernels).
constexpr int64_t kItemBudgetBytes = 160 * 1024;
// Images a thread runs as a group, and the largest input + output buffers of a layer that runs
// for the whole group at once (all of them stay in L2 with the layer's weights).
constexpr int64_t kGroup = 4;
constexpr int64_t kGroupedLayerBytes = 48 * 1024;

// Separable layers: depthwise sums counted before the operand path is decided, and the share
// of outliers (1 / kOutlierShare) above which int16 operands are faster. A correction adds one
// weight row per outlier; the int16 GEMM costs up to twice the uint8 one. Measured on AVX-512
// VNNI, batch 32: int8 operands 1.3x faster with 0.3% outliers (an MNIST-trained separable
// CNN), int16 operands 4.3x faster with 23 to 30% (benchmarks/engine_choice.py,
// sparse_events_28); the crossover of a linear fit is near 1.7%.
constexpr int64_t kDecideSums = 1 << 15;
constexpr int64_t kOutlierShare = 64;
// Event-driven rows: patches counted before deciding, the share of zero patches (1 /
// kEventShare) from which skipping their rows pays for finding them, and the multiply-adds a
// skipped row must save (finding a zero patch reads kh x kw x c bytes). Measured on AVX-512
// VNNI, batch 32, one thread: 1.27x faster with 42 to 67% zero patches on 16 to 64-channel
// layers (blank image regions); 0.94x on an MNIST CNN's input layer (64% zero patches, 9 x 32
// multiply-adds a row), which kMinEventMacs leaves off.
constexpr int64_t kDecidePatches = 1 << 12;
constexpr int64_t kEventShare = 8;
constexpr int64_t kMinEventMacs = 4096;
// Dense layers: a zero k group (4 inputs, 2 without VNNI, zero in every image of the GEMM)
// saves 4 x units
// multiply-adds per image and costs one 4-byte test per image. Measured on AVX-512 VNNI, one
// thread: 512 -> 256 units with 41% zero groups (80% zero inputs, batch 1) 1.37x faster; a
// 3136 -> 10 layer 2.3x slower forced on (10 units: a skipped group saves one instruction per
// image, as much as its test costs).
constexpr int64_t kDenseEventShare = 4;
constexpr int64_t kMinDenseEventUnits = 64;

int64_t RoundUp(int64_t v, int64_t m) { return (v + m - 1) / m * m; }

absl::Status Unsupported(int i, const std::string& why) {
  return InvalidArgument("unsupported by the direct engine: layer ", i, " ", why,
                         " (the TensorFlow ops compute it with their wide paths)");
}

absl::Status CheckLayerFields(const AkidaDirectLayer& s, int i, int count) {
  if (s.kind != kDirectConv && s.kind != kDirectSeparable && s.kind != kDirectDense) {
    return InvalidArgument("layer ", i, ": kind must be 1 (convolution), 2 (separable) or 3 "
                           "(dense), got ", s.kind);
  }
  if (s.in_h < 1 || s.in_w < 1 || s.in_c < 1 || s.filters < 1) {
    return InvalidArgument("layer ", i, ": input (", s.in_h, ", ", s.in_w, ", ", s.in_c,
                           ") and filters ", s.filters, " must be positive");
  }
  if (s.act_bits != 0 && s.act_bits != 1 && s.act_bits != 2 && s.act_bits != 4) {
    return InvalidArgument("layer ", i, ": act_bits must be 0 (no fire), 1, 2 or 4, got ",
                           s.act_bits);
  }
  if (s.act_bits == 0 && i != count - 1) {
    return InvalidArgument("layer ", i, ": only the last layer may have no fire (act_bits 0)");
  }
  if (s.input_max < 0 || s.input_max > 255 || s.padding_value < 0 || s.padding_value > 255) {
    return InvalidArgument("layer ", i, ": input_max (", s.input_max, ") and padding_value (",
                           s.padding_value, ") must be in [0, 255]");
  }
  if (s.weights == nullptr || (s.kind == kDirectSeparable && s.pointwise == nullptr) ||
      (s.act_bits > 0 && (s.threshold == nullptr || s.act_step == nullptr))) {
    return InvalidArgument("layer ", i, ": a weights, pointwise, threshold or act_step array "
                           "is missing");
  }
  if (s.kind != kDirectDense &&
      (s.kh < 1 || s.kw < 1 || s.sh < 1 || s.sw < 1 || s.pool < 0 || s.pool > 2)) {
    return InvalidArgument("layer ", i, ": kernel (", s.kh, ", ", s.kw, "), strides (", s.sh,
                           ", ", s.sw, ") must be positive and pool 0, 1 or 2, got ", s.pool);
  }
  return absl::OkStatus();
}

void PrepareWinograd(const AkidaDirectLayer& s, const IsaKernels& k, int64_t xmax,
                     DirectLayer* L);

absl::Status PrepareConv(const AkidaDirectLayer& s, int i, const IsaKernels& k,
                         DirectLayer* L) {
  const BlockGeometry& g = L->g;
  const int64_t group = k.u8_format.group;
  const int64_t span = g.kw * g.c;
  // Every partial sum is bounded by (largest input or padding level) * sum_k |w[k, f]|.
  const int64_t xmax = std::max<int64_t>(s.input_max, s.same ? s.padding_value : 0);
  if (xmax * MaxAbsColumnSum(s.weights, g.kh * span, L->f, nullptr) > kInt32Max) {
    return Unsupported(i, "has convolution sums that may exceed int32");
  }
  L->kps = (span + group - 1) / group;
  L->nseg = g.kh;
  const std::vector<int8_t> rows = SegmentRows(s.weights, g.kh, span, L->f, L->kps * group);
  L->packed.packed = PackWeights(rows.data(), g.kh * L->kps * group, L->f, k.u8_format,
                                 &L->packed.storage);
  L->packed.exact_int32 = true;
  PrepareWinograd(s, k, xmax, L);
  return absl::OkStatus();
}

// Winograd pays off when the GEMMs over channels are long enough to hide the transforms.
constexpr int64_t kWinogradMinChannels = 32;

// Sets up Winograd F(2x2, 3x3) when it is exact in the kernels' lanes: transformed inputs plus
// the offset 2 * xmax within uint8 (V lies in [-2 xmax, 4 xmax]), U' = (2G) g (2G)^T within
// int8, and 4 * |potential| within int32 (the output transform computes 4 Y).
void PrepareWinograd(const AkidaDirectLayer& s, const IsaKernels& k, int64_t xmax,
                     DirectLayer* L) {
  const BlockGeometry& g = L->g;
  const int64_t c = g.c, f = L->f;
  if (k.winograd_gemm == nullptr || g.kh != 3 || g.kw != 3 || g.sh != 1 || g.sw != 1 ||
      c < kWinogradMinChannels ||
      6 * xmax > 255 ||
      4 * xmax * MaxAbsColumnSum(s.weights, 9 * c, f, nullptr) > kInt32Max) {
    return;
  }
  static const int kG[4][3] = {{2, 0, 0}, {1, 1, 1}, {1, -1, 1}, {0, 0, 2}};
  std::vector<int8_t> u(static_cast<size_t>(16 * c * f));
  for (int i = 0; i < 4; ++i) {
    for (int j = 0; j < 4; ++j) {
      for (int64_t ch = 0; ch < c; ++ch) {
        for (int64_t o = 0; o < f; ++o) {
          int64_t sum = 0;
          for (int ky = 0; ky < 3; ++ky) {
            for (int kx = 0; kx < 3; ++kx) {
              sum += kG[i][ky] * kG[j][kx] * int64_t{s.weights[((ky * 3 + kx) * c + ch) * f + o]};
            }
          }
          if (sum < -127 || sum > 127) return;  // does not fit int8: direct convolution
          u[((4 * i + j) * c + ch) * f + o] = static_cast<int8_t>(sum);
        }
      }
    }
  }
  L->winograd = true;
  L->wino_offset = static_cast<uint8_t>(2 * xmax);
  L->tiles_w = (g.ow + 1) / 2;
  L->wino.clear();
  L->wino.reserve(16);  // PackedB points into each entry's storage: no reallocation
  for (int p = 0; p < 16; ++p) {
    L->wino.emplace_back();
    PreparedWeights& w = L->wino.back();
    w.packed = PackWeights(u.data() + p * c * f, c, f, k.u8_format, &w.storage);
    w.exact_int32 = true;
  }
  const int64_t fp = L->wino[0].packed.fp;
  L->wino_bias.assign(static_cast<size_t>(16 * fp), 0);
  for (int p = 0; p < 16; ++p) {
    for (int64_t ch = 0; ch < c; ++ch) {
      for (int64_t o = 0; o < f; ++o) {
        uint32_t& b = reinterpret_cast<uint32_t&>(L->wino_bias[p * fp + o]);
        b -= uint32_t{L->wino_offset} * static_cast<uint32_t>(int32_t{u[(p * c + ch) * f + o]});
      }
    }
  }
  L->kps = L->wino[0].packed.kgroups;
  L->cp = L->kps * k.u8_format.group;
  // Tiles at the bottom / right edge read one row / column past the padded input.
  L->in_rows = std::max(L->in_rows, 2 * ((g.oh + 1) / 2) + 2);
  L->in_cols = std::max(L->in_cols, 2 * L->tiles_w + 2);
}

absl::Status PrepareSeparable(const AkidaDirectLayer& s, int i, const IsaKernels& k,
                              DirectLayer* L) {
  const BlockGeometry& g = L->g;
  const int64_t c = g.c, taps = g.kh * g.kw, f = L->f;
  const std::vector<int64_t> d_bound = DepthwiseBounds(s.weights, taps, c, s.input_max);
  if (*std::max_element(d_bound.begin(), d_bound.end()) > kInt16Max) {
    return Unsupported(i, "has depthwise sums that may exceed int16");
  }
  if (MaxAbsColumnSum(s.pointwise, c, f, d_bound.data()) > kInt32Max) {
    return Unsupported(i, "has pointwise sums that may exceed int32");
  }
  L->cw = RoundUp(c, 32);
  L->dw16 = Widen<int16_t>(s.weights, taps, c, L->cw);
  L->packed.packed = PackWeights(s.pointwise, c, f, k.u8_format, &L->packed.storage);
  L->packed.exact_int32 = true;
  L->kps = L->packed.packed.kgroups;
  L->nseg = 1;
  L->cp = L->kps * k.u8_format.group;
  L->packed16.packed = PackWeights(s.pointwise, c, f, k.s16_format, &L->packed16.storage);
  L->packed16.exact_int32 = true;
  L->cp16 = L->packed16.packed.kgroups * 2;
  // No depthwise sum can leave int8: the uint8 operands are always exact, nothing to decide.
  L->s16_decided = *std::max_element(d_bound.begin(), d_bound.end()) <= 127;
  L->pw.assign(s.pointwise, s.pointwise + c * f);
  // The operands are clamp(d) + 128: the GEMM starts each potential at -128 * sum_c pw[c, f].
  // int32 wrap-around is harmless: the exact potential fits int32 (bound above).
  L->bias.assign(static_cast<size_t>(L->packed.packed.fp), 0);
  for (int64_t ch = 0; ch < c; ++ch) {
    for (int64_t j = 0; j < f; ++j) {
      L->bias[j] = static_cast<int32_t>(static_cast<uint32_t>(L->bias[j]) -
                                        128u * static_cast<uint32_t>(int32_t{L->pw[ch * f + j]}));
    }
  }
  return absl::OkStatus();
}

absl::Status PrepareDense(const AkidaDirectLayer& s, int i, const IsaKernels& k,
                          DirectLayer* L) {
  const int64_t features = L->g.c;
  // Saturation needs the exact sum: int32 lanes only when no sum can leave int32.
  if (s.input_max * MaxAbsColumnSum(s.weights, features, L->f, nullptr) > kInt32Max) {
    return Unsupported(i, "has dense sums that may exceed int32");
  }
  L->packed.packed = PackWeights(s.weights, features, L->f, k.u8_format, &L->packed.storage);
  L->packed.exact_int32 = true;
  L->kps = L->packed.packed.kgroups;
  L->nseg = 1;
  L->saturate20 = true;
  return absl::OkStatus();
}

// Geometry and input-buffer layout of layer i.
absl::Status MakeLayerGeometry(const AkidaDirectLayer& s, int i, DirectLayer* L) {
  if (s.kind == kDirectDense) {
    BlockGeometry& g = L->g;
    g = BlockGeometry{};
    g.n = 1; g.h = 1; g.w = 1; g.c = int64_t{s.in_h} * s.in_w * s.in_c;
    g.kh = g.kw = g.sh = g.sw = 1;
    g.oh = g.ow = g.out_h = g.out_w = 1;
    g.pool = kPoolNone;
    g.pool_h = g.pool_w = g.pool_sh = g.pool_sw = 1;
    // The previous layer writes its (h, w, c) output here as it is: NHWC order.
    L->in_rows = s.in_h; L->in_cols = s.in_w; L->in_ch = s.in_c; L->in_top = L->in_left = 0;
    return absl::OkStatus();
  }
  BlockAttrs attrs;
  attrs.sh = s.sh; attrs.sw = s.sw; attrs.same = s.same != 0;
  attrs.padding_value = s.padding_value;
  attrs.pool = s.pool == 1 ? kPoolMax : s.pool == 2 ? kPoolGlobalSum : kPoolNone;
  attrs.pool_h = std::max(1, s.pool_h); attrs.pool_w = std::max(1, s.pool_w);
  attrs.pool_sh = std::max(1, s.pool_sh); attrs.pool_sw = std::max(1, s.pool_sw);
  absl::Status status =
      MakeBlockGeometry(attrs, 1, s.in_h, s.in_w, s.in_c, s.kh, s.kw, &L->g);
  if (!status.ok()) return InvalidArgument("layer ", i, ": ", status.message());
  const BlockGeometry& g = L->g;
  L->in_top = g.pad_top;
  L->in_left = g.pad_left;
  L->in_rows = std::max((g.oh - 1) * g.sh + g.kh, g.pad_top + g.h);
  L->in_cols = std::max((g.ow - 1) * g.sw + g.kw, g.pad_left + g.w);
  L->in_ch = g.c;
  L->pad_value = static_cast<uint8_t>(s.kind == kDirectConv ? s.padding_value : 0);
  return absl::OkStatus();
}

// Work-item sizes on one thread, and the scratch they need.
void SizeBands(DirectPlan* plan, DirectLayer* L) {
  const BlockGeometry& g = L->g;
  const int64_t fp = L->packed.packed.fp;
  // Winograd: per two conv rows, tiles_w tiles of 16 operand rows.
  const int64_t per_conv_row = L->winograd ? g.ow * fp * 4 + 8 * L->tiles_w * L->cp
                                           : g.ow * (fp * 4 + L->cp);
  const int64_t conv_rows = std::max<int64_t>(1, kItemBudgetBytes / per_conv_row);
  if (g.pool == kPoolMax) {
    L->rows_out = g.poh;
    L->band = std::max<int64_t>(1, (conv_rows - g.pool_h) / g.pool_sh + 1);
  } else {
    L->rows_out = g.oh;
    L->band = conv_rows;
  }
  if (L->winograd && g.pool != kPoolMax) {
    // A Winograd tile covers two conv rows: an odd band would compute a row twice.
    L->band_align = 2;
    L->band = std::max<int64_t>(2, L->band & ~int64_t{1});
  }
  L->band = std::min(L->band, L->rows_out);
  const int64_t item_rows = g.pool == kPoolMax
                                ? std::min((L->band - 1) * g.pool_sh + g.pool_h, g.oh)
                                : L->band;
  const int64_t pixels = item_rows * g.ow;
  plan->tile_bytes = std::max(plan->tile_bytes, static_cast<size_t>(pixels * fp * 4));
  plan->rows_count = std::max(plan->rows_count, static_cast<size_t>(pixels));
  if (L->winograd) {
    const int64_t tiles = (item_rows / 2 + 1) * L->tiles_w;
    plan->operand_bytes = std::max(plan->operand_bytes, static_cast<size_t>(16 * tiles * L->cp));
    plan->wino_bytes = std::max(
        plan->wino_bytes, static_cast<size_t>((16 * 8 + 4) * L->packed.packed.nr * 4));
  }
  if (L->kind == kDirectSeparable) {
    plan->operand_bytes = std::max(plan->operand_bytes,
                                   static_cast<size_t>(pixels * std::max(L->cp, 2 * L->cp16)));
    plan->outlier_count = std::max(plan->outlier_count, static_cast<size_t>(pixels * g.c));
    plan->tile_bytes = std::max(plan->tile_bytes,
                                static_cast<size_t>(pixels * L->packed16.packed.fp * 4));
  }
  plan->pool_bytes = std::max(plan->pool_bytes,
                              static_cast<size_t>(std::max(g.pow, g.ow) * L->f * 4));
  plan->gsum_count = std::max(plan->gsum_count, static_cast<size_t>(L->f));
}

}  // namespace

void AlignedBytes::Assign(size_t size, uint8_t fill) {
  storage_.reset(new uint8_t[size + 128]);
  const uintptr_t p = reinterpret_cast<uintptr_t>(storage_.get());
  data_ = reinterpret_cast<uint8_t*>((p + 63) & ~uintptr_t{63});
  size_ = size;
  std::memset(data_, fill, size);
  std::memset(data_ + size, 0, 64);  // slack the kernels may read (times zero weights)
}

absl::Status BuildDirectPlan(const AkidaDirectLayer* layers, int32_t count, DirectPlan* plan) {
  if (count < 1) return InvalidArgument("the model has no neural layer");
  TF_RETURN_IF_ERROR(SelectIsa(&plan->kernels));
  const IsaKernels& k = *plan->kernels;
  plan->layers.clear();
  plan->layers.resize(count);
  plan->layer_macs.clear();
  for (int i = 0; i < count; ++i) {
    const AkidaDirectLayer& s = layers[i];
    DirectLayer& L = plan->layers[i];
    TF_RETURN_IF_ERROR(CheckLayerFields(s, i, count));
    if (i > 0) {
      const DirectLayer& prev = plan->layers[i - 1];
      if (s.in_h != prev.g.out_h || s.in_w != prev.g.out_w || s.in_c != prev.f) {
        return InvalidArgument("layer ", i, ": input (", s.in_h, ", ", s.in_w, ", ", s.in_c,
                               ") is not the output of layer ", i - 1, " (", prev.g.out_h,
                               ", ", prev.g.out_w, ", ", prev.f, ")");
      }
    }
    L.kind = s.kind;
    L.f = s.filters;
    TF_RETURN_IF_ERROR(MakeLayerGeometry(s, i, &L));
    if (s.kind == kDirectConv) {
      TF_RETURN_IF_ERROR(PrepareConv(s, i, k, &L));
    } else if (s.kind == kDirectSeparable) {
      TF_RETURN_IF_ERROR(PrepareSeparable(s, i, k, &L));
    } else {
      TF_RETURN_IF_ERROR(PrepareDense(s, i, k, &L));
    }
    L.fires = s.act_bits > 0;
    if (L.fires) {
      absl::Status status = L.fire.Build(s.threshold, s.act_step, L.f, s.act_bits);
      if (!status.ok()) return InvalidArgument("layer ", i, ": ", status.message());
      L.zero_levels.resize(static_cast<size_t>(L.f));
      for (int64_t j = 0; j < L.f; ++j) L.zero_levels[j] = L.fire.Level(j, 0);
    }
    L.events_decided = !EventsPossible(*plan, L);
    L.panel = k.u8_format.nr;
    SizeBands(plan, &L);
    const BlockGeometry& g = L.g;
    plan->layer_macs.push_back(s.kind == kDirectSeparable
                                   ? g.oh * g.ow * g.c * (g.kh * g.kw + L.f)
                                   : g.oh * g.ow * g.kh * g.kw * g.c * L.f);
    plan->macs += plan->layer_macs.back();
  }
  plan->counters.reset(new DirectCounters[count]);
  plan->in_h = layers[0].in_h;
  plan->in_w = layers[0].in_w;
  plan->in_c = layers[0].in_c;
  const DirectLayer& last = plan->layers.back();
  plan->out_h = last.g.out_h;
  plan->out_w = last.g.out_w;
  plan->out_f = last.f;
  plan->out_u8 = last.fires;
  plan->group = kGroup;
  plan->grouped_from = plan->layers.size();
  for (size_t i = plan->layers.size(); i-- > 0;) {
    const DirectLayer& L = plan->layers[i];
    int64_t bytes = L.in_rows * L.in_cols * L.in_ch;
    if (i + 1 < plan->layers.size()) {
      const DirectLayer& next = plan->layers[i + 1];
      bytes += next.in_rows * next.in_cols * next.in_ch;
    }
    if (L.winograd || L.band < L.rows_out || bytes > kGroupedLayerBytes) break;
    plan->grouped_from = i;
  }
  // Scratch for the grouped layers' items (a whole image each, kGroup images).
  for (size_t i = plan->grouped_from; i < plan->layers.size(); ++i) {
    const DirectLayer& L = plan->layers[i];
    const int64_t pixels = kGroup * L.g.oh * L.g.ow;
    plan->tile_bytes = std::max(plan->tile_bytes,
                                static_cast<size_t>(pixels * L.packed.packed.fp * 4));
    plan->rows_count = std::max(plan->rows_count, static_cast<size_t>(pixels));
    if (L.kind == kDirectSeparable) {
      plan->operand_bytes = std::max(plan->operand_bytes,
                                     static_cast<size_t>(pixels * std::max(L.cp, 2 * L.cp16)));
      plan->outlier_count = std::max(plan->outlier_count, static_cast<size_t>(pixels * L.g.c));
      plan->tile_bytes = std::max(plan->tile_bytes,
                                  static_cast<size_t>(pixels * L.packed16.packed.fp * 4));
    }
    plan->gsum_count = std::max(plan->gsum_count, static_cast<size_t>(kGroup * L.f));
  }
  return absl::OkStatus();
}

void SplitForThreads(DirectPlan* plan, int threads) {
  plan->coop_threads = threads;
  // At least two items per thread, so that a thread slowed by other work takes fewer.
  const int64_t target = 2 * static_cast<int64_t>(threads);
  for (DirectLayer& L : plan->layers) {
    int64_t bands = 1;
    if (L.g.pool != kPoolGlobalSum) {  // a global sum is sequential over the image's rows
      bands = (L.rows_out + L.band - 1) / L.band;
      if (threads > 1) bands = std::min(L.rows_out, std::max(bands, target));
    }
    const int64_t panels = (L.f + L.panel - 1) / L.panel;
    int64_t parts = 1;
    if (threads > 1 && bands < target) parts = std::min(panels, (target + bands - 1) / bands);
    L.coop_bands = bands;
    L.coop_parts = parts;
  }
}

bool EventsPossible(const DirectPlan& plan, const DirectLayer& L) {
  if (L.kind == kDirectDense) return plan.kernels->gemm_u8_groups != nullptr;
  return !L.winograd;
}

void DecideFromCounters(DirectPlan* plan) {
  for (size_t i = 0; i < plan->layers.size(); ++i) {
    DirectLayer& L = plan->layers[i];
    if (L.kind != kDirectSeparable || L.s16_decided) continue;
    const DirectCounters& c = plan->counters[i];
    const int64_t sums = c.dw_sums.load(std::memory_order_relaxed);
    if (sums < kDecideSums) continue;
    L.s16 = c.dw_outliers.load(std::memory_order_relaxed) * kOutlierShare > sums;
    L.s16_decided = true;
  }
  for (size_t i = 0; i < plan->layers.size(); ++i) {
    DirectLayer& L = plan->layers[i];
    if (L.events_decided) continue;
    const DirectCounters& c = plan->counters[i];
    const int64_t patches = c.patches.load(std::memory_order_relaxed);
    if (patches < kDecidePatches) continue;
    const int64_t zeros = c.zero_patches.load(std::memory_order_relaxed);
    if (L.kind == kDirectDense) {
      L.events = L.f >= kMinDenseEventUnits && zeros * kDenseEventShare >= patches;
    } else {
      const int64_t row_macs = L.kind == kDirectSeparable ? L.g.c * L.f
                                                          : L.g.kh * L.g.kw * L.g.c * L.f;
      L.events = row_macs >= kMinEventMacs && zeros * kEventShare >= patches;
    }
    L.events_decided = true;
  }
}

DirectContext& ContextFor(DirectPlan* plan, int i, size_t from_layer) {
  if (static_cast<int>(plan->contexts.size()) <= i) plan->contexts.resize(i + 1);
  std::unique_ptr<DirectContext>& context = plan->contexts[i];
  if (context == nullptr) {
    context = std::make_unique<DirectContext>();
    context->buffers.resize(plan->layers.size());
  }
  for (size_t j = from_layer; j < plan->layers.size(); ++j) {
    const DirectLayer& L = plan->layers[j];
    if (context->buffers[j].data() == nullptr) {
      context->buffers[j].Assign(static_cast<size_t>(L.in_rows * L.in_cols * L.in_ch),
                                 L.pad_value);
    }
  }
  return *context;
}

}  // namespace akida_ops
