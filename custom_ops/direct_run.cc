// Running a direct plan (direct_plan.h), and the C ABI of direct_api.h.
//
// Batches of at least as many images as threads: each thread runs groups of images through the
// whole network (taking the next group when it is done, so a thread slowed by other work takes
// fewer), with its own activation buffers: the early layers image by image (the activations
// stay in the thread's cache from one layer to the next), the late ones for the whole group at
// once (RunGroup). The images left over (all of them at batch 1) run on every thread together:
// each layer's work items (row bands x channel parts) are shared out, and the next layer
// starts when they are all done.
//
// A work item computes its conv output rows into a potentials tile (the depthwise sums of a
// separable layer first, as uint8 operands), then pools and fires the tile straight into the
// next layer's input buffer, whose padding is already in place.
#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdlib>
#include <cstring>
#include <exception>
#include <memory>
#include <string>
#include <vector>

#include "direct_api.h"
#include "direct_plan.h"
#include "spin_pool.h"

namespace akida_ops {
namespace {

// Where a layer writes: pixel (y, x), channel j at base + (y * row + x * px + j) * elem bytes.
struct OutView {
  char* base;
  int64_t row, px, elem;
};

constexpr int64_t kMaxGroupSlots = 16;

// Multiply-adds of an image per thread sharing it: CNN2SNN_TFMOT_DIRECT_MACS_PER_THREAD (read at
// every run: the tests set it to 1 to share even tiny images), else 8 million.
// Separable operands: CNN2SNN_TFMOT_DIRECT_SEPARABLE_OPERANDS=int8 or int16 (read at every run:
// the tests run both paths) forces one path on every separable layer, for good (the plan stops
// deciding); otherwise the plan decides per layer from the outliers it counts.
void ApplyOperandOverride(DirectPlan* plan) {
  const char* value = std::getenv("CNN2SNN_TFMOT_DIRECT_SEPARABLE_OPERANDS");
  const std::string mode(value == nullptr ? "" : value);
  if (mode == "int8" || mode == "int16") {
    for (DirectLayer& L : plan->layers) {
      if (L.kind == kDirectSeparable) {
        L.s16 = mode == "int16";
        L.s16_decided = true;
      }
    }
  }
  // CNN2SNN_TFMOT_DIRECT_EVENTS=0 or 1 turns the event-driven rows off or on in every layer
  // that can use them (the tests run both); otherwise the plan decides per layer.
  const char* events = std::getenv("CNN2SNN_TFMOT_DIRECT_EVENTS");
  if (events != nullptr && (events[0] == '0' || events[0] == '1') && events[1] == '\0') {
    for (DirectLayer& L : plan->layers) {
      if (EventsPossible(*plan, L)) {
        L.events = events[0] == '1';
        L.events_decided = true;
      }
    }
  }
}

// CNN2SNN_TFMOT_DIRECT_POOL_GEMM=0 computes pooled layers through an int32 tile of conv
// potentials, pooled afterwards; anything else pools in the GEMM where the layer allows it.
void ApplyPoolOverride(DirectPlan* plan) {
  const char* value = std::getenv("CNN2SNN_TFMOT_DIRECT_POOL_GEMM");
  plan->pool_in_gemm = !(value != nullptr && value[0] == '0' && value[1] == '\0');
}

int64_t MacsPerHelper() {
  const char* value = std::getenv("CNN2SNN_TFMOT_DIRECT_MACS_PER_THREAD");
  const int64_t parsed = value != nullptr ? std::strtoll(value, nullptr, 10) : 0;
  return parsed > 0 ? parsed : 8'000'000;
}

struct Scratch {
  int32_t* tile;
  const char** rows;
  uint8_t* operands;
  DwOutlier* outliers;
  int32_t* pool;
  int64_t* gsum;
  int32_t* wino;
  uint8_t** outs;
  uint8_t* zero;  // [rows_count] event-driven rows: 1 where the input patch is all zero
  int32_t* kept;  // [rows_count] the GEMM rows computed, by index
  int32_t* pos;   // [rows_count] a kept row's place among them
};

Scratch GetScratch(const DirectPlan& plan) {
  Scratch s;
  s.tile = static_cast<int32_t*>(ThreadScratch(5, plan.tile_bytes + 64));
  s.rows = static_cast<const char**>(ThreadScratch(6, plan.rows_count * sizeof(char*) + 64));
  s.operands = static_cast<uint8_t*>(ThreadScratch(7, plan.operand_bytes + 64));
  s.outliers =
      static_cast<DwOutlier*>(ThreadScratch(8, plan.outlier_count * sizeof(DwOutlier) + 64));
  s.pool = static_cast<int32_t*>(ThreadScratch(9, plan.pool_bytes + 64));
  s.gsum = static_cast<int64_t*>(ThreadScratch(10, plan.gsum_count * sizeof(int64_t) + 64));
  s.wino = static_cast<int32_t*>(ThreadScratch(11, plan.wino_bytes + 64));
  s.outs = static_cast<uint8_t**>(ThreadScratch(12, plan.rows_count * sizeof(uint8_t*) + 64));
  s.zero = static_cast<uint8_t*>(ThreadScratch(13, plan.rows_count + 64));
  s.kept = static_cast<int32_t*>(ThreadScratch(14, plan.rows_count * sizeof(int32_t) + 64));
  s.pos = static_cast<int32_t*>(ThreadScratch(15, plan.rows_count * sizeof(int32_t) + 64));
  return s;
}

// Channels [f0, f1) of packed weights (f0 a multiple of the panel width).
PackedB SubPanels(const PackedB& full, int64_t lanes, int64_t f0, int64_t f1) {
  PackedB b = full;
  b.data = static_cast<const char*>(full.data) + f0 * full.kgroups * 4;
  b.f = f1 - f0;
  b.fp = std::min(full.fp, (f1 + lanes - 1) / lanes * lanes) - f0;
  return b;
}

// Winograd F(2x2, 3x3): conv rows [c0, c1) from the tile rows that cover them.
int64_t WinogradTile(const DirectPlan& plan, const DirectLayer& L, const uint8_t* in,
                     int64_t c0, int64_t c1, int64_t f0, int64_t f1, const Scratch& s) {
  const IsaKernels& k = *plan.kernels;
  const int64_t first = c0 & ~int64_t{1};
  const int64_t tiles_h = (c1 - first + 1) / 2, tiles = tiles_h * L.tiles_w;
  const int64_t row_bytes = L.in_cols * L.in_ch;
  k.winograd_input(WinogradInputArgs{in + first * row_bytes, L.in_cols, L.g.c, tiles_h,
                                     L.tiles_w, L.wino_offset, s.operands, L.cp});
  PackedB b[16];
  const int32_t* bias[16];
  for (int p = 0; p < 16; ++p) {
    b[p] = SubPanels(L.wino[p].packed, k.u8_format.lanes, f0, f1);
    bias[p] = L.wino_bias.data() + p * L.wino[0].packed.fp + f0;
  }
  const int64_t ldc = b[0].fp;
  k.winograd_gemm(WinogradGemmArgs{s.operands, L.cp, tiles_h, L.tiles_w, b, bias, first, c0,
                                   c1 - c0, L.g.ow, s.tile, ldc, s.wino});
  return ldc;
}

// The GEMM operands of conv rows [c0, c1) of `count` images (inputs ins[g]), image after image:
// row pointers in s.rows, for a separable layer its depthwise operands (s.operands) and
// outliers (s.outliers, pixels numbered across the images).
struct GemmInput {
  int64_t m;
  AView view;
  const int32_t* bias;  // the GEMM's start values at channel 0, or null
  int64_t outliers;
  // Event-driven rows: the GEMM computes m of full_m rows, s.kept[0:m] (increasing); the others
  // have an all-zero input patch.
  bool compact = false;
  int64_t full_m = 0;
};

bool PixelNonzero(const uint8_t* p, int64_t c) {
  uint64_t acc = 0;
  int64_t k = 0;
  for (; k + 8 <= c; k += 8) {
    uint64_t word;
    std::memcpy(&word, p + k, 8);
    acc |= word;
  }
  for (; k < c; ++k) acc |= p[k];
  return acc != 0;
}

// Marks s.zero[i] for the GEMM rows i of conv rows [c0, c1) of `count` images (image after
// image) whose input patch, padding included, is all zero; returns how many. Each input pixel
// is tested once per call, then ORed over the kernel's rows and columns.
int64_t MarkZeroPatches(const DirectLayer& L, const uint8_t* const* ins, int64_t count,
                        int64_t c0, int64_t c1, const Scratch& s) {
  const BlockGeometry& g = L.g;
  const int64_t row_bytes = L.in_cols * L.in_ch;
  const int64_t y0 = c0 * g.sh, y1 = (c1 - 1) * g.sh + g.kh;
  const int64_t cols = (g.ow - 1) * g.sw + g.kw;
  uint8_t* nonzero = static_cast<uint8_t*>(
      ThreadScratch(16, static_cast<size_t>((y1 - y0 + 1) * cols + 64)));
  uint8_t* column = nonzero + (y1 - y0) * cols;
  int64_t found = 0, i = 0;
  for (int64_t n = 0; n < count; ++n) {
    for (int64_t y = y0; y < y1; ++y) {
      const uint8_t* row = ins[n] + y * row_bytes;
      uint8_t* flags = nonzero + (y - y0) * cols;
      for (int64_t x = 0; x < cols; ++x) flags[x] = PixelNonzero(row + x * L.in_ch, L.in_ch);
    }
    for (int64_t r = c0; r < c1; ++r) {
      const uint8_t* top = nonzero + (r * g.sh - y0) * cols;
      for (int64_t x = 0; x < cols; ++x) {
        uint8_t v = 0;
        for (int64_t ky = 0; ky < g.kh; ++ky) v |= top[ky * cols + x];
        column[x] = v;
      }
      for (int64_t ox = 0; ox < g.ow; ++ox) {
        uint8_t v = 0;
        for (int64_t kx = 0; kx < g.kw; ++kx) v |= column[ox * g.sw + kx];
        s.zero[i++] = !v;
        found += !v;
      }
    }
  }
  return found;
}

// Event-driven dense layers: marks the k groups (the kernels' packing group: 4 inputs for
// VNNI, 2 otherwise) that are zero in all `count` images, counts them while the plan has not
// decided, and when L.events is on lists the others for gemm_u8_groups
// (in.view.kgroup_index). Reads up to 3 bytes past an input (the buffers' zero slack).
void FindDenseGroups(const DirectPlan& plan, const DirectLayer& L, const uint8_t* const* ins,
                     int64_t count, GemmInput* in) {
  if (!L.events && L.events_decided) return;
  const int64_t groups = L.kps;
  const int64_t width = plan.kernels->u8_format.group;
  int32_t* index = static_cast<int32_t*>(
      ThreadScratch(17, static_cast<size_t>(groups) * sizeof(int32_t) + 64));
  int64_t kept = 0;
  for (int64_t k = 0; k < groups; ++k) {
    uint32_t any = 0;
    for (int64_t n = 0; n < count; ++n) {
      uint32_t word = 0;
      if (width == 4) {
        std::memcpy(&word, ins[n] + 4 * k, 4);
      } else {
        std::memcpy(&word, ins[n] + width * k, 2);
      }
      any |= word;
    }
    index[kept] = static_cast<int32_t>(k);
    kept += any != 0;
  }
  if (!L.events_decided) {
    DirectCounters& c = plan.counters[&L - plan.layers.data()];
    c.patches.fetch_add(groups, std::memory_order_relaxed);
    c.zero_patches.fetch_add(groups - kept, std::memory_order_relaxed);
  }
  if (!L.events) return;
  in->view.kgroup_index = index;
  in->view.kgroups_per_seg = kept;
}

// Event-driven rows of layer L for the GEMM rows in.m of conv rows [c0, c1): counts the zero
// patches while the plan has not decided, and when L.events is on keeps in s.kept the rows to
// compute (in.m becomes their number, in.compact true). Returns whether s.zero was filled.
bool FindEvents(const DirectPlan& plan, const DirectLayer& L, const uint8_t* const* ins,
                int64_t count, int64_t c0, int64_t c1, const Scratch& s, GemmInput* in) {
  if (!L.events && L.events_decided) return false;
  const int64_t zeros = MarkZeroPatches(L, ins, count, c0, c1, s);
  if (!L.events_decided) {
    DirectCounters& c = plan.counters[&L - plan.layers.data()];
    c.patches.fetch_add(in->m, std::memory_order_relaxed);
    c.zero_patches.fetch_add(zeros, std::memory_order_relaxed);
  }
  if (!L.events) return true;
  in->full_m = in->m;
  in->compact = true;
  int64_t m = 0;
  for (int64_t i = 0; i < in->full_m; ++i) {
    if (!s.zero[i]) s.kept[m++] = static_cast<int32_t>(i);
  }
  in->m = m;
  return true;
}

// Moves the m computed rows of a compact tile to their places s.kept[j] and zeroes the rows in
// between (backwards: a row only moves down, over rows already moved).
void ExpandTile(int32_t* tile, int64_t ldc, const Scratch& s, int64_t m, int64_t full_m) {
  int64_t j = m - 1;
  for (int64_t i = full_m - 1; i >= 0; --i) {
    int32_t* row = tile + i * ldc;
    if (j >= 0 && s.kept[j] == i) {
      if (j != i) std::memcpy(row, tile + j * ldc, static_cast<size_t>(ldc) * sizeof(int32_t));
      --j;
    } else {
      std::memset(row, 0, static_cast<size_t>(ldc) * sizeof(int32_t));
    }
  }
}

// fill_rows false: a convolution or separable layer's row pointers are left to the caller
// (PoolInGemm, which orders them by pooling window; the rows are not compacted then).
GemmInput PrepareGemm(const DirectPlan& plan, const DirectLayer& L, const uint8_t* const* ins,
                      int64_t count, int64_t c0, int64_t c1, const Scratch& s,
                      bool fill_rows = true) {
  const BlockGeometry& g = L.g;
  const int64_t pixels = (c1 - c0) * g.ow;
  GemmInput in{count * pixels, AView{}, nullptr, 0};
  in.view.nseg = L.nseg;
  in.view.kgroups_per_seg = L.kps;
  const int64_t row_bytes = L.in_cols * L.in_ch;
  if (L.kind == kDirectConv) {
    in.view.seg_stride = row_bytes;
    int64_t i = 0;
    for (int64_t n = 0; n < count && fill_rows; ++n) {
      for (int64_t r = c0; r < c1; ++r) {
        const char* row = reinterpret_cast<const char*>(ins[n]) + r * g.sh * row_bytes;
        for (int64_t ox = 0; ox < g.ow; ++ox) s.rows[i++] = row + ox * g.sw * g.c;
      }
    }
    if (FindEvents(plan, L, ins, count, c0, c1, s, &in) && in.compact) {
      for (int64_t j = 0; j < in.m; ++j) s.rows[j] = s.rows[s.kept[j]];
    }
    return in;
  }
  if (L.kind == kDirectDense) {
    for (int64_t n = 0; n < count; ++n) s.rows[n] = reinterpret_cast<const char*>(ins[n]);
    in.m = count;
    FindDenseGroups(plan, L, ins, count, &in);
    return in;
  }
  for (int64_t n = 0; n < count; ++n) {
    DepthwiseU8Args a{ins[n] + c0 * g.sh * row_bytes, L.in_cols, g.c, L.cw, g.kh, g.kw, g.sh,
                      g.sw, g.ow, c1 - c0, L.dw16.data(), s.operands + n * pixels * L.cp, L.cp,
                      s.outliers + in.outliers};
    const int64_t found = plan.kernels->depthwise_u8(a);
    for (int64_t o = in.outliers; o < in.outliers + found; ++o) {
      s.outliers[o].pixel += static_cast<int32_t>(n * pixels);
    }
    in.outliers += found;
  }
  in.bias = L.bias.data();
  if (FindEvents(plan, L, ins, count, c0, c1, s, &in) && in.compact) {
    for (int64_t j = 0; j < in.m; ++j) {
      s.rows[j] = reinterpret_cast<const char*>(s.operands + s.kept[j] * L.cp);
    }
    return in;
  }
  for (int64_t i = 0; i < in.m && fill_rows; ++i) {
    s.rows[i] = reinterpret_cast<const char*>(s.operands + i * L.cp);
  }
  return in;
}

// Separable layers on the int8 operand path count their depthwise sums and outliers until the
// plan has decided between the two paths (DecideFromCounters).
void CountOutliers(const DirectPlan& plan, const DirectLayer& L, const GemmInput& in) {
  if (L.kind != kDirectSeparable || L.s16_decided) return;
  DirectCounters& c = plan.counters[&L - plan.layers.data()];
  c.dw_sums.fetch_add((in.compact ? in.full_m : in.m) * L.g.c, std::memory_order_relaxed);
  c.dw_outliers.fetch_add(in.outliers, std::memory_order_relaxed);
}

// The int16 depthwise sums of conv rows [c0, c1) of `count` images into s.operands (L.cp16
// per row), and the event-driven rows' search (FindEvents).
GemmInput DepthwiseS16Operands(const DirectPlan& plan, const DirectLayer& L,
                               const uint8_t* const* ins, int64_t count, int64_t c0, int64_t c1,
                               const Scratch& s) {
  const BlockGeometry& g = L.g;
  const int64_t pixels = (c1 - c0) * g.ow;
  const int64_t row_bytes = L.in_cols * L.in_ch;
  int16_t* operands = reinterpret_cast<int16_t*>(s.operands);
  for (int64_t n = 0; n < count; ++n) {
    DepthwiseArgs a{ins[n] + c0 * g.sh * row_bytes, L.in_cols, g.c, L.cw, g.kh, g.kw, g.sh,
                    g.sw, g.ow, c1 - c0, L.dw16.data(), operands + n * pixels * L.cp16,
                    L.cp16};
    plan.kernels->depthwise_s16(a);
  }
  GemmInput in{count * pixels, AView{}, nullptr, 0};
  FindEvents(plan, L, ins, count, c0, c1, s, &in);
  return in;
}

// A separable layer on the int16 operand path: exact int16 depthwise sums of conv rows
// [c0, c1) of `count` images as the operands of one gemm_s16 (no outliers, no bias).
int64_t SeparableS16Tile(const DirectPlan& plan, const DirectLayer& L, const uint8_t* const* ins,
                         int64_t count, int64_t c0, int64_t c1, int64_t f0, int64_t f1,
                         const Scratch& s) {
  const IsaKernels& k = *plan.kernels;
  int16_t* operands = reinterpret_cast<int16_t*>(s.operands);
  GemmInput in = DepthwiseS16Operands(plan, L, ins, count, c0, c1, s);
  if (in.compact) {
    for (int64_t j = 0; j < in.m; ++j) {  // rows move down only: in order
      if (s.kept[j] != j) {
        std::memcpy(operands + j * L.cp16, operands + s.kept[j] * L.cp16,
                    static_cast<size_t>(L.cp16) * sizeof(int16_t));
      }
    }
  }
  const PackedB b = SubPanels(L.packed16.packed, k.s16_format.lanes, f0, f1);
  const AView view{operands, L.cp16 * 2, in.m, 0, 1, 0, L.packed16.packed.kgroups};
  k.gemm_s16(view, in.m, b, s.tile, b.fp);
  if (in.compact) ExpandTile(s.tile, b.fp, s, in.m, in.full_m);
  return b.fp;
}

// Potentials of conv rows [c0, c1), channels [f0, f1), of `count` images into s.tile, image
// after image, by one GEMM over all their rows (a group of images shares each weight panel);
// returns the tile's channel stride. Winograd layers take one image at a time.
int64_t ComputeTile(const DirectPlan& plan, const DirectLayer& L, const uint8_t* const* ins,
                    int64_t count, int64_t c0, int64_t c1, int64_t f0, int64_t f1,
                    const Scratch& s) {
  if (L.winograd) return WinogradTile(plan, L, ins[0], c0, c1, f0, f1, s);
  if (L.kind == kDirectSeparable && L.s16) return SeparableS16Tile(plan, L, ins, count, c0, c1,
                                                                  f0, f1, s);
  const GemmInput in = PrepareGemm(plan, L, ins, count, c0, c1, s);
  CountOutliers(plan, L, in);
  const PackedB b = SubPanels(L.packed.packed, plan.kernels->u8_format.lanes, f0, f1);
  const int64_t ldc = b.fp;
  if (in.view.kgroup_index != nullptr) {
    plan.kernels->gemm_u8_groups(s.rows, in.view, in.m, b, s.tile, ldc);
  } else {
    plan.kernels->gemm_u8_rows(s.rows, in.view, in.m, b, in.bias ? in.bias + f0 : nullptr,
                               s.tile, ldc);
  }
  if (in.compact) ExpandTile(s.tile, ldc, s, in.m, in.full_m);
  // Depthwise sums beyond [-128, 127]: add what the clamp removed (unsigned: wraps like the
  // kernels; the exact potential fits int32).
  for (int64_t o = 0; o < in.outliers; ++o) {
    const DwOutlier& out = s.outliers[o];
    uint32_t* t = reinterpret_cast<uint32_t*>(s.tile + out.pixel * ldc);
    const int8_t* w = L.pw.data() + out.channel * L.f + f0;
    const uint32_t excess = static_cast<uint32_t>(out.excess);
    for (int64_t j = 0; j < f1 - f0; ++j) t[j] += excess * static_cast<uint32_t>(int32_t{w[j]});
  }
  return ldc;
}

// Whether the kernels fire layer L's potentials in the GEMM itself (no int32 tile): no pooling,
// the 4-bit division form of the fire.
bool FusesFire(const DirectPlan& plan, const DirectLayer& L) {
  if (plan.kernels->gemm_u8_fire == nullptr || !L.fires || L.winograd ||
      L.kind == kDirectDense || L.g.pool != kPoolNone || (L.kind == kDirectSeparable && L.s16)) {
    return false;
  }
  const FireTable& t = L.fire.table();
  return t.division_ok && t.levels > 3;
}

// Conv rows [c0, c1), channels [f0, f1), of `count` images, fired by the GEMM.
void FireInGemm(const DirectPlan& plan, const DirectLayer& L, const uint8_t* const* ins,
                const OutView* outs, int64_t count, int64_t c0, int64_t c1, int64_t f0,
                int64_t f1, const Scratch& s) {
  const GemmInput in = PrepareGemm(plan, L, ins, count, c0, c1, s);
  CountOutliers(plan, L, in);
  if (in.outliers > 1) {
    std::sort(s.outliers, s.outliers + in.outliers,
              [](const DwOutlier& a, const DwOutlier& b) { return a.pixel < b.pixel; });
  }
  int64_t i = 0;
  for (int64_t n = 0; n < count; ++n) {
    for (int64_t r = c0; r < c1; ++r) {
      uint8_t* row = reinterpret_cast<uint8_t*>(outs[n].base) + r * outs[n].row + f0;
      for (int64_t ox = 0; ox < L.g.ow; ++ox) s.outs[i++] = row + ox * outs[n].px;
    }
  }
  if (in.compact) {
    // Rows skipped: the levels of potential 0. Computed rows: outputs and outliers follow them
    // to their place in the GEMM (no outlier has an all-zero patch).
    const uint8_t* levels = L.zero_levels.data() + f0;
    for (int64_t full = 0; full < in.full_m; ++full) {
      if (s.zero[full]) std::memcpy(s.outs[full], levels, static_cast<size_t>(f1 - f0));
    }
    for (int64_t j = 0; j < in.m; ++j) {
      s.pos[s.kept[j]] = static_cast<int32_t>(j);
      s.outs[j] = s.outs[s.kept[j]];
    }
    for (int64_t o = 0; o < in.outliers; ++o) s.outliers[o].pixel = s.pos[s.outliers[o].pixel];
  }
  GemmFireArgs a{};
  a.rows = s.rows;
  a.view = in.view;
  a.m = in.m;
  a.b = SubPanels(L.packed.packed, plan.kernels->u8_format.lanes, f0, f1);
  a.bias = in.bias ? in.bias + f0 : nullptr;
  a.fire = &L.fire.table();
  a.f0 = f0;
  a.out = s.outs;
  a.outliers = s.outliers;
  a.outlier_count = in.outliers;
  a.pw = L.kind == kDirectSeparable ? L.pw.data() + f0 : nullptr;
  a.pw_stride = L.f;
  plan.kernels->gemm_u8_fire(a);
}

// Whether layer L's max pooling runs in the GEMM (gemm_pool): windows that do not overlap (an
// overlapping one would compute its shared pixels twice), every row computed (no events).
bool FusesPool(const DirectPlan& plan, const DirectLayer& L) {
  const BlockGeometry& g = L.g;
  return plan.pool_in_gemm && plan.kernels->gemm_pool != nullptr && g.pool == kPoolMax &&
         !L.winograd && L.kind != kDirectDense && !L.events && g.pool_sh >= g.pool_h &&
         g.pool_sw >= g.pool_w;
}

// Whether gemm_pool fires the pooled potentials itself (after their saturation to 20 bits):
// the 4-bit division form (float32, or float64 for large steps) and windows of at most 6 rows
// (one micro-tile: the kernels' kMr).
bool FiresPooled(const DirectLayer& L) {
  if (!L.fires || L.g.pool_h * L.g.pool_w > 6) return false;
  const FireTable& t = L.fire.table();
  return (t.division_ok || t.division_wide_ok) && t.levels > 3;
}

// Block output rows [o0, o1), channels [f0, f1), of `count` images, pooled by the GEMM into
// s.tile (pooled pixels of the images one after the other), then saturated to 20 bits and
// fired (or stored) by pool_fire as unpooled potentials, as PoolFire does after its max.
void PoolInGemm(const DirectPlan& plan, const DirectLayer& L, const uint8_t* const* ins,
                const OutView* outs, int64_t count, int64_t o0, int64_t o1, int64_t f0,
                int64_t f1, const Scratch& s) {
  const BlockGeometry& g = L.g;
  const IsaKernels& k = *plan.kernels;
  int64_t c0, c1;
  ConvRowsOf(g, o0, o1, &c0, &c1);
  const bool s16 = L.kind == kDirectSeparable && L.s16;
  GemmPoolArgs a{};
  GemmInput in;
  if (s16) {
    in = DepthwiseS16Operands(plan, L, ins, count, c0, c1, s);
    in.view.nseg = 1;
    in.view.kgroups_per_seg = L.packed16.packed.kgroups;
    a.b = SubPanels(L.packed16.packed, k.s16_format.lanes, f0, f1);
  } else {
    in = PrepareGemm(plan, L, ins, count, c0, c1, s, false);
    CountOutliers(plan, L, in);
    a.b = SubPanels(L.packed.packed, k.u8_format.lanes, f0, f1);
    a.u8 = 1;
  }
  // The GEMM rows window after window (TensorFlow's max pooling: only the window's cells inside
  // the conv output). Conv pixel (y, x) of image n is the input patch at (y * sh, x * sw) of a
  // convolution, operand row n * pixels + (y - c0) * ow + x of a separable layer.
  const int64_t pixels = (c1 - c0) * g.ow;
  const int64_t operand_bytes = s16 ? L.cp16 * 2 : L.cp;
  const bool conv = L.kind == kDirectConv;
  const int64_t step_y = conv ? g.sh * L.in_cols * L.in_ch : g.ow * operand_bytes;
  const int64_t step_x = conv ? g.sw * g.c : operand_bytes;
  const int64_t y_origin = conv ? 0 : c0;
  int32_t* start = s.kept;
  int32_t* pos = s.pos;  // a conv pixel's row in the window order (-1: in no window)
  if (in.outliers > 0) std::fill(pos, pos + in.m, -1);
  int64_t w = 0, i = 0;
  for (int64_t n = 0; n < count; ++n) {
    const char* base = conv ? reinterpret_cast<const char*>(ins[n])
                            : reinterpret_cast<const char*>(s.operands) +
                                  n * pixels * operand_bytes;
    for (int64_t p = o0; p < o1; ++p) {
      const int64_t y0 = p * g.pool_sh - g.pool_top;
      const int64_t ylo = std::max<int64_t>(y0, 0), yhi = std::min(y0 + g.pool_h, g.oh);
      for (int64_t q = 0; q < g.pow; ++q) {
        const int64_t x0 = q * g.pool_sw - g.pool_left;
        const int64_t xlo = std::max<int64_t>(x0, 0), xhi = std::min(x0 + g.pool_w, g.ow);
        start[w++] = static_cast<int32_t>(i);
        if (in.outliers > 0) {
          for (int64_t y = ylo; y < yhi; ++y) {
            for (int64_t x = xlo; x < xhi; ++x) {
              pos[n * pixels + (y - c0) * g.ow + x] = static_cast<int32_t>(i + (y - ylo) *
                                                                           (xhi - xlo) + x - xlo);
            }
          }
        }
        for (int64_t y = ylo; y < yhi; ++y) {
          const char* row = base + (y - y_origin) * step_y;
          for (int64_t x = xlo; x < xhi; ++x) s.rows[i++] = row + x * step_x;
        }
      }
    }
  }
  start[w] = static_cast<int32_t>(i);
  int64_t kept = 0;
  for (int64_t o = 0; o < in.outliers; ++o) {
    DwOutlier out = s.outliers[o];
    out.pixel = pos[out.pixel];
    if (out.pixel >= 0) s.outliers[kept++] = out;
  }
  if (kept > 1) {
    std::sort(s.outliers, s.outliers + kept,
              [](const DwOutlier& x, const DwOutlier& y) { return x.pixel < y.pixel; });
  }
  a.rows = s.rows;
  a.view = in.view;
  a.window_start = start;
  a.windows = w;
  a.bias = in.bias != nullptr ? in.bias + f0 : nullptr;
  a.c = s.tile;
  a.ldc = a.b.fp;
  a.outliers = s.outliers;
  a.outlier_count = kept;
  a.pw = L.kind == kDirectSeparable ? L.pw.data() + f0 : nullptr;
  a.pw_stride = L.f;
  if (FiresPooled(L)) {
    // The fire of each window's max in the kernel: its output pixel, window after window.
    w = 0;
    for (int64_t n = 0; n < count; ++n) {
      for (int64_t p = o0; p < o1; ++p) {
        uint8_t* row = reinterpret_cast<uint8_t*>(outs[n].base) + p * outs[n].row + f0;
        for (int64_t q = 0; q < g.pow; ++q) s.outs[w++] = row + q * outs[n].px;
      }
    }
    a.fire = &L.fire.table();
    a.f0 = f0;
    a.out = s.outs;
    k.gemm_pool(a);
    return;
  }
  k.gemm_pool(a);
  PoolFireArgs f{};
  f.ldc = a.ldc;
  f.row0 = o0; f.rows = o1 - o0; f.oh = g.poh; f.ow = g.pow; f.nch = f1 - f0; f.f0 = f0;
  f.pool = kPoolNone;
  f.out_row0 = o0; f.out_rows = o1 - o0;
  f.saturate20 = 1;  // the pooled value saturates to 20 bits (PoolFire)
  f.fire = L.fires ? &L.fire.table() : nullptr;
  f.scratch = s.pool;
  for (int64_t n = 0; n < count; ++n) {
    f.tile = s.tile + n * (o1 - o0) * g.pow * a.ldc;
    f.out = outs[n].base + f0 * outs[n].elem;
    f.out_row = outs[n].row;
    f.out_px = outs[n].px;
    k.pool_fire(f);
  }
}

// Adds the time from its construction to its destruction to a layer's profile counter (when
// the plan is profiled: off by default, it costs two clock reads per work item).
class ItemTimer {
 public:
  ItemTimer(const DirectPlan& plan, const DirectLayer& L)
      : counter_(plan.profile ? &plan.counters[&L - plan.layers.data()].nanos : nullptr) {
    if (counter_ != nullptr) started_ = std::chrono::steady_clock::now();
  }
  ~ItemTimer() {
    if (counter_ == nullptr) return;
    counter_->fetch_add(std::chrono::duration_cast<std::chrono::nanoseconds>(
                            std::chrono::steady_clock::now() - started_).count(),
                        std::memory_order_relaxed);
  }
  ItemTimer(const ItemTimer&) = delete;
  ItemTimer& operator=(const ItemTimer&) = delete;

 private:
  std::atomic<int64_t>* counter_;
  std::chrono::steady_clock::time_point started_;
};

// Block output rows [o0, o1) (all rows for a global sum), channels [f0, f1), of `count` images
// (more than one only when one item covers a whole image: see DirectLayer::grouped).
void ExecItem(const DirectPlan& plan, const DirectLayer& L, const uint8_t* const* ins,
              const OutView* outs, int64_t count, int64_t o0, int64_t o1, int64_t f0,
              int64_t f1, const Scratch& s) {
  const ItemTimer timer(plan, L);
  const BlockGeometry& g = L.g;
  const int64_t nch = f1 - f0;
  PoolFireArgs a{};
  a.oh = g.oh; a.ow = g.ow; a.nch = nch; a.f0 = f0;
  a.pool = g.pool;
  a.pool_h = g.pool_h; a.pool_w = g.pool_w; a.pool_sh = g.pool_sh; a.pool_sw = g.pool_sw;
  a.pool_top = g.pool_top; a.pool_left = g.pool_left; a.pow = g.pow;
  a.saturate20 = L.saturate20 ? 1 : 0;
  a.fire = L.fires ? &L.fire.table() : nullptr;
  a.scratch = s.pool;
  if (g.pool == kPoolGlobalSum) {
    // Sequential and saturating: the rows go in order, in bands that fit the cache.
    std::fill(s.gsum, s.gsum + count * nch, 0);
    for (int64_t c0 = 0; c0 < g.oh; c0 += L.band) {
      const int64_t c1 = std::min(c0 + L.band, g.oh);
      a.ldc = ComputeTile(plan, L, ins, count, c0, c1, f0, f1, s);
      a.row0 = c0;
      a.rows = c1 - c0;
      for (int64_t n = 0; n < count; ++n) {
        a.tile = s.tile + n * a.rows * g.ow * a.ldc;
        a.gsum = s.gsum + n * nch;
        plan.kernels->pool_fire(a);
      }
    }
    for (int64_t n = 0; n < count; ++n) {
      char* out = outs[n].base + f0 * outs[n].elem;
      const int64_t* sum = s.gsum + n * nch;
      for (int64_t j = 0; j < nch; ++j) {
        if (L.fires) {
          reinterpret_cast<uint8_t*>(out)[j] = L.fire.Level(f0 + j, sum[j]);
        } else {
          reinterpret_cast<int32_t*>(out)[j] = static_cast<int32_t>(sum[j]);
        }
      }
    }
    return;
  }
  if (FusesPool(plan, L)) {
    PoolInGemm(plan, L, ins, outs, count, o0, o1, f0, f1, s);
    return;
  }
  int64_t c0, c1;
  ConvRowsOf(g, o0, o1, &c0, &c1);
  if (FusesFire(plan, L)) {
    FireInGemm(plan, L, ins, outs, count, c0, c1, f0, f1, s);
    return;
  }
  a.ldc = ComputeTile(plan, L, ins, count, c0, c1, f0, f1, s);
  a.row0 = c0;
  a.rows = c1 - c0;
  a.out_row0 = o0;
  a.out_rows = o1 - o0;
  for (int64_t n = 0; n < count; ++n) {
    a.tile = s.tile + n * a.rows * g.ow * a.ldc;
    a.out = outs[n].base + f0 * outs[n].elem;
    a.out_row = outs[n].row;
    a.out_px = outs[n].px;
    plan.kernels->pool_fire(a);
  }
}

OutView OutputOf(const DirectPlan& plan, DirectContext& ctx, size_t i, char* image_out) {
  if (i + 1 < plan.layers.size()) {
    const DirectLayer& next = plan.layers[i + 1];
    char* base = reinterpret_cast<char*>(ctx.buffers[i + 1].data());
    return OutView{base + (next.in_top * next.in_cols + next.in_left) * next.in_ch,
                   next.in_cols * next.in_ch, next.in_ch, 1};
  }
  return OutView{image_out, plan.out_w * plan.out_f, plan.out_f, plan.out_u8 ? 1 : 4};
}

void CopyInput(const DirectPlan& plan, DirectContext& ctx, const uint8_t* image) {
  const DirectLayer& L = plan.layers[0];
  const int64_t row = plan.in_w * plan.in_c;
  uint8_t* base = ctx.buffers[0].data();
  for (int64_t y = 0; y < plan.in_h; ++y) {
    std::memcpy(base + ((y + L.in_top) * L.in_cols + L.in_left) * L.in_ch, image + y * row, row);
  }
}

// All the work items of layer i for one image on one thread.
void RunLayer(const DirectPlan& plan, size_t i, DirectContext& ctx, DirectContext& out_ctx,
              char* image_out, const Scratch& s) {
  const DirectLayer& L = plan.layers[i];
  const OutView out = OutputOf(plan, out_ctx, i, image_out);
  const uint8_t* in = ctx.buffers[i].data();
  if (L.g.pool == kPoolGlobalSum) {
    ExecItem(plan, L, &in, &out, 1, 0, L.rows_out, 0, L.f, s);
    return;
  }
  for (int64_t o0 = 0; o0 < L.rows_out; o0 += L.band) {
    ExecItem(plan, L, &in, &out, 1, o0, std::min(o0 + L.band, L.rows_out), 0, L.f, s);
  }
}

// A group of images on one thread (contexts[g] holds image g's buffers): the layers before
// plan.grouped_from image by image (their activations are large: each image's stay in cache),
// the later ones one at a time for all the images, by one GEMM (their weights are large and
// their activations small: each weight panel is read once for the group).
void RunGroup(const DirectPlan& plan, DirectContext* const* contexts, int64_t count,
              const uint8_t* images, char* outputs, const Scratch& s) {
  const int64_t in_bytes = plan.in_h * plan.in_w * plan.in_c;
  const int64_t out_bytes = plan.out_h * plan.out_w * plan.out_f * (plan.out_u8 ? 1 : 4);
  const size_t split = std::min(plan.grouped_from, plan.layers.size());
  for (int64_t n = 0; n < count; ++n) {
    // Image by image in slot 0's buffers, up to the first grouped layer's input (slot n's).
    CopyInput(plan, split == 0 ? *contexts[n] : *contexts[0], images + n * in_bytes);
    for (size_t i = 0; i < split; ++i) {
      RunLayer(plan, i, *contexts[0], i + 1 == split ? *contexts[n] : *contexts[0],
               outputs + n * out_bytes, s);
    }
  }
  const uint8_t* ins[kMaxGroupSlots];
  OutView outs[kMaxGroupSlots];
  for (size_t i = split; i < plan.layers.size(); ++i) {
    const DirectLayer& L = plan.layers[i];
    for (int64_t n = 0; n < count; ++n) {
      ins[n] = contexts[n]->buffers[i].data();
      outs[n] = OutputOf(plan, *contexts[n], i, outputs + n * out_bytes);
    }
    ExecItem(plan, L, ins, outs, count, 0, L.rows_out, 0, L.f, s);
  }
}

// Progress of one image run by every thread: per layer (and the input copy, "layer" 0), the
// next work item to take and the number of items done.
struct Progress {
  std::atomic<int64_t> next{0};
  std::atomic<int64_t> done{0};
};

// One image on every thread that joins. Work items are taken from shared counters and a layer
// starts when all the items of the previous one are done (not when all threads arrive), so a
// thread descheduled by other work only delays the items it holds.
void RunImageTogether(const DirectPlan& plan, DirectContext& ctx, const uint8_t* image,
                      char* image_out, const Scratch& s, Progress* progress) {
  if (progress[0].next.fetch_add(1, std::memory_order_relaxed) == 0) {
    CopyInput(plan, ctx, image);
    progress[0].done.store(1, std::memory_order_release);
  }
  int64_t previous_items = 1;
  for (size_t i = 0; i < plan.layers.size(); ++i) {
    const DirectLayer& L = plan.layers[i];
    Progress& before = progress[i];
    Progress& mine = progress[i + 1];
    SpinPool::WaitUntil([&] {
      return before.done.load(std::memory_order_acquire) == previous_items;
    });
    const OutView out = OutputOf(plan, ctx, i, image_out);
    const uint8_t* in = ctx.buffers[i].data();
    const int64_t items = L.coop_bands * L.coop_parts;
    int64_t per_band = (L.rows_out + L.coop_bands - 1) / L.coop_bands;
    per_band = (per_band + L.band_align - 1) / L.band_align * L.band_align;
    const int64_t panels = (L.f + L.panel - 1) / L.panel;
    const int64_t per_part = (panels + L.coop_parts - 1) / L.coop_parts * L.panel;
    for (;;) {
      const int64_t item = mine.next.fetch_add(1, std::memory_order_relaxed);
      if (item >= items) break;
      const int64_t o0 = item / L.coop_parts * per_band;
      const int64_t f0 = item % L.coop_parts * per_part;
      if (o0 < L.rows_out && f0 < L.f) {
        ExecItem(plan, L, &in, &out, 1, o0, std::min(o0 + per_band, L.rows_out), f0,
                 std::min(f0 + per_part, L.f), s);
      }
      mine.done.fetch_add(1, std::memory_order_acq_rel);
    }
    previous_items = items;
  }
  Progress& last = progress[plan.layers.size()];
  SpinPool::WaitUntil([&] { return last.done.load(std::memory_order_acquire) == previous_items; });
}

// Adaptive thread count (threads < 0: up to -threads). On a machine whose CPUs are taken by
// other work, a thread of ours that is descheduled while it holds work makes the others wait
// for it at the end of every call: measured on this project's 2-core machine under a load of
// 11, 2 threads ran 0.8x as fast as 1 (and 1.8x as fast when the machine is idle). The plan
// keeps, per batch size, the recent time per image with one thread and with all of them, runs
// the faster, and tries the other one run in kExploreEvery (the load changes).
constexpr int64_t kExploreEvery = 16;
constexpr size_t kMaxTimedSizes = 32;

int ChooseThreads(DirectPlan* plan, int64_t n, int threads, int* mode) {
  if (plan->thread_timings.size() > kMaxTimedSizes) plan->thread_timings.clear();
  ThreadTiming& t = plan->thread_timings[n];
  ++t.runs;
  if (t.seconds[1] == 0) {
    *mode = 1;
  } else if (t.seconds[0] == 0) {
    *mode = 0;
  } else {
    *mode = t.seconds[0] < t.seconds[1] ? 0 : 1;
    if (t.runs % kExploreEvery == 0) *mode = 1 - *mode;
  }
  return *mode == 0 ? 1 : threads;
}

void RecordThreads(DirectPlan* plan, int64_t n, int mode, double seconds) {
  double& average = plan->thread_timings[n].seconds[mode];
  average = average == 0 ? seconds : 0.75 * average + 0.25 * seconds;
}

absl::Status RunPlan(DirectPlan* plan, const uint8_t* x, int64_t n, void* out, int threads) {
  std::lock_guard<std::mutex> lock(plan->mu);
  if (n <= 0) return absl::OkStatus();
  ApplyOperandOverride(plan);
  ApplyPoolOverride(plan);
  const bool adaptive = threads < 0;
  threads = std::clamp(std::abs(threads), 1, 256);
  int mode = -1;
  if (adaptive && threads > 1) threads = ChooseThreads(plan, n, threads, &mode);
  const auto started = std::chrono::steady_clock::now();
  // Threads that share one image: a small network gains less from splitting an image than the
  // synchronisation of its layers costs (measured: the MNIST and CIFAR CNNs of the zoo, 1 and 7
  // million multiply-adds, ran faster on one thread).
  const int helpers = static_cast<int>(
      std::clamp<int64_t>(plan->macs / MacsPerHelper(), 1, threads));
  if (plan->coop_threads != helpers) SplitForThreads(plan, helpers);
  // Contexts for each thread's group of whole images, and one shared by the images run
  // together (a thread may still be finishing its own images when another starts those).
  const int64_t together = helpers > 1 ? n % threads : 0;
  const int64_t alone = n - together;
  // Groups no larger than an even share of the batch, so that every thread gets images.
  const int64_t group = std::clamp<int64_t>(alone / threads, 1, plan->group);
  const int shared = static_cast<int>(threads * plan->group);
  for (int i = 0; i < shared; ++i) {
    ContextFor(plan, i, i % plan->group == 0 ? 0 : plan->grouped_from);
  }
  ContextFor(plan, shared, 0);
  const int64_t in_bytes = plan->in_h * plan->in_w * plan->in_c;
  const int64_t out_bytes = plan->out_h * plan->out_w * plan->out_f * (plan->out_u8 ? 1 : 4);
  const size_t nlayers = plan->layers.size();
  const size_t stages = nlayers + 1;
  std::unique_ptr<Progress[]> progress(new Progress[static_cast<size_t>(together) * stages + 1]);
  std::atomic<int64_t> next{0};
  char* outputs = static_cast<char*>(out);
  const DirectPlan& p = *plan;
  // Only threads that have work are woken: at batch 1 of a small network a second thread would
  // only spin, taking a CPU from other work on the machine.
  const int64_t alone_groups = (alone + group - 1) / group;
  const int busy = static_cast<int>(std::clamp<int64_t>(
      std::max<int64_t>(together > 0 ? helpers : 0, alone_groups), 1, threads));
  SpinPool::RunOn(busy, threads, [&](int t) {
    const Scratch s = GetScratch(p);
    DirectContext* own[kMaxGroupSlots];
    for (int64_t g = 0; g < group; ++g) own[g] = p.contexts[t * p.group + g].get();
    for (;;) {
      const int64_t i = next.fetch_add(group, std::memory_order_relaxed);
      if (i >= alone) break;
      RunGroup(p, own, std::min(group, alone - i), x + i * in_bytes, outputs + i * out_bytes, s);
    }
    for (int64_t i = alone; i < n && t < helpers; ++i) {
      RunImageTogether(p, *p.contexts[shared], x + i * in_bytes, outputs + i * out_bytes, s,
                       progress.get() + (i - alone) * stages);
    }
  });
  if (mode >= 0) {
    RecordThreads(plan, n, mode, std::chrono::duration<double>(
                                     std::chrono::steady_clock::now() - started).count());
  }
  DecideFromCounters(plan);
  return absl::OkStatus();
}

void WriteError(char* error, int64_t size, const std::string& message) {
  if (error == nullptr || size <= 0) return;
  const size_t n = std::min<size_t>(message.size(), static_cast<size_t>(size - 1));
  std::memcpy(error, message.data(), n);
  error[n] = '\0';
}

}  // namespace
}  // namespace akida_ops

#define AKIDA_EXPORT extern "C" __attribute__((visibility("default")))

AKIDA_EXPORT void* cnn2snn_tfmot_direct_create(const AkidaDirectLayer* layers, int32_t count,
                                               char* error, int64_t error_size) {
  try {
    auto plan = std::make_unique<akida_ops::DirectPlan>();
    const absl::Status status = akida_ops::BuildDirectPlan(layers, count, plan.get());
    if (!status.ok()) {
      akida_ops::WriteError(error, error_size, std::string(status.message()));
      return nullptr;
    }
    return plan.release();
  } catch (const std::exception& err) {
    akida_ops::WriteError(error, error_size, err.what());
    return nullptr;
  }
}

AKIDA_EXPORT int32_t cnn2snn_tfmot_direct_run(void* plan, const uint8_t* x, int64_t n,
                                              void* out, int32_t threads, char* error,
                                              int64_t error_size) {
  try {
    const absl::Status status =
        akida_ops::RunPlan(static_cast<akida_ops::DirectPlan*>(plan), x, n, out, threads);
    if (!status.ok()) {
      akida_ops::WriteError(error, error_size, std::string(status.message()));
      return -1;
    }
    return 0;
  } catch (const std::exception& err) {
    akida_ops::WriteError(error, error_size, err.what());
    return -1;
  }
}

AKIDA_EXPORT const char* cnn2snn_tfmot_direct_kernel_set(void* plan) {
  return static_cast<akida_ops::DirectPlan*>(plan)->kernels->name;
}

AKIDA_EXPORT const char* cnn2snn_tfmot_direct_layer_algorithm(void* plan, int32_t i) {
  const auto& layers = static_cast<akida_ops::DirectPlan*>(plan)->layers;
  if (i < 0 || i >= static_cast<int32_t>(layers.size())) return nullptr;
  const akida_ops::DirectLayer& L = layers[i];
  if (L.kind == akida_ops::kDirectSeparable) {
    if (L.s16) return L.events ? "separable_int16+events" : "separable_int16";
    return L.events ? "separable+events" : "separable";
  }
  if (L.kind == akida_ops::kDirectDense) return L.events ? "dense+events" : "dense";
  if (L.winograd) return "winograd";
  return L.events ? "convolution+events" : "convolution";
}

AKIDA_EXPORT int32_t cnn2snn_tfmot_direct_layer_pools_in_gemm(void* plan, int32_t i) {
  auto* p = static_cast<akida_ops::DirectPlan*>(plan);
  if (i < 0 || i >= static_cast<int32_t>(p->layers.size())) return -1;
  std::lock_guard<std::mutex> lock(p->mu);
  return akida_ops::FusesPool(*p, p->layers[i]) ? 1 : 0;
}

AKIDA_EXPORT void cnn2snn_tfmot_direct_set_profiling(void* plan, int32_t on) {
  auto* p = static_cast<akida_ops::DirectPlan*>(plan);
  std::lock_guard<std::mutex> lock(p->mu);
  p->profile = on != 0;
  for (size_t i = 0; i < p->layers.size(); ++i) {
    p->counters[i].nanos.store(0, std::memory_order_relaxed);
  }
}

AKIDA_EXPORT double cnn2snn_tfmot_direct_layer_seconds(void* plan, int32_t i) {
  auto* p = static_cast<akida_ops::DirectPlan*>(plan);
  if (i < 0 || i >= static_cast<int32_t>(p->layers.size())) return -1;
  std::lock_guard<std::mutex> lock(p->mu);
  return static_cast<double>(p->counters[i].nanos.load(std::memory_order_relaxed)) * 1e-9;
}

AKIDA_EXPORT int64_t cnn2snn_tfmot_direct_layer_macs(void* plan, int32_t i) {
  const auto* p = static_cast<akida_ops::DirectPlan*>(plan);
  if (i < 0 || i >= static_cast<int32_t>(p->layers.size())) return -1;
  return p->layer_macs[i];
}

AKIDA_EXPORT int64_t cnn2snn_tfmot_clock_probe(int64_t iterations) {
#if defined(__x86_64__) && (defined(__GNUC__) || defined(__clang__))
  // Eight dependent one-cycle additions per iteration: the loop's own instructions run beside
  // them, so an iteration takes eight cycles.
  uint64_t x = 0;
  for (int64_t i = 0; i < iterations; ++i) {
    asm volatile(
        "add $1, %0\n\tadd $1, %0\n\tadd $1, %0\n\tadd $1, %0\n\t"
        "add $1, %0\n\tadd $1, %0\n\tadd $1, %0\n\tadd $1, %0"
        : "+r"(x));
  }
  return 8 * iterations;
#else
  (void)iterations;
  return 0;
#endif
}

AKIDA_EXPORT void cnn2snn_tfmot_direct_destroy(void* plan) {
  delete static_cast<akida_ops::DirectPlan*>(plan);
}
