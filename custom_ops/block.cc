#include "block.h"

#include <algorithm>
#include <cstring>
#include <memory>
#include <mutex>
#include <string>

#include "absl/strings/str_join.h"
#include "tensorflow/core/framework/tensor_shape.h"
#include "tensorflow/core/platform/errors.h"
#include "tensorflow/core/platform/threadpool.h"

namespace akida_ops {

using tensorflow::errors::InvalidArgument;
using tensorflow::shape_inference::DimensionHandle;
using tensorflow::shape_inference::InferenceContext;
using tensorflow::shape_inference::ShapeHandle;

namespace {

// One band's potentials should stay in the per-core L2 cache while they are pooled and fired.
constexpr int64_t kTileBudgetBytes = 512 * 1024;

template <typename Context>
absl::Status GetPair(Context* ctx, const char* name, int64_t* a, int64_t* b) {
  std::vector<int32_t> values;
  TF_RETURN_IF_ERROR(ctx->GetAttr(name, &values));
  if (values.size() != 2 || values[0] < 1 || values[1] < 1) {
    return InvalidArgument(name, " must be two positive integers (height, width), got [",
                           absl::StrJoin(values, ", "), "]");
  }
  *a = values[0];
  *b = values[1];
  return absl::OkStatus();
}

template <typename Context>
absl::Status GetCommonAttrs(Context* ctx, BlockAttrs* attrs) {
  TF_RETURN_IF_ERROR(GetPair(ctx, "strides", &attrs->sh, &attrs->sw));
  std::string padding, pool_type;
  TF_RETURN_IF_ERROR(ctx->GetAttr("padding", &padding));
  attrs->same = padding == "SAME";
  TF_RETURN_IF_ERROR(ctx->GetAttr("pool_type", &pool_type));
  attrs->pool = pool_type == "max" ? kPoolMax
                : pool_type == "global_sum" ? kPoolGlobalSum : kPoolNone;
  TF_RETURN_IF_ERROR(GetPair(ctx, "pool_size", &attrs->pool_h, &attrs->pool_w));
  TF_RETURN_IF_ERROR(GetPair(ctx, "pool_strides", &attrs->pool_sh, &attrs->pool_sw));
  return absl::OkStatus();
}

struct ScratchSlot {
  std::unique_ptr<uint8_t[]> data;
  size_t size = 0;
};

}  // namespace

void ConvRowsOf(const BlockGeometry& g, int64_t o0, int64_t o1, int64_t* c0, int64_t* c1) {
  if (g.pool == kPoolMax) {
    *c0 = std::max<int64_t>(o0 * g.pool_sh - g.pool_top, 0);
    *c1 = std::min<int64_t>((o1 - 1) * g.pool_sh - g.pool_top + g.pool_h, g.oh);
  } else {
    *c0 = o0;
    *c1 = o1;
  }
}

absl::Status ParseBlockAttrs(tensorflow::OpKernelConstruction* ctx, bool has_padding_value,
                             bool fires, BlockAttrs* attrs) {
  TF_RETURN_IF_ERROR(GetCommonAttrs(ctx, attrs));
  if (has_padding_value) {
    TF_RETURN_IF_ERROR(ctx->GetAttr("padding_value", &attrs->padding_value));
    if (attrs->padding_value < 0 || attrs->padding_value > 255) {
      return InvalidArgument("padding_value must be in [0, 255] (a uint8 input level), got ",
                             attrs->padding_value);
    }
  }
  if (fires) {
    int64_t act_bits = 0;
    TF_RETURN_IF_ERROR(ctx->GetAttr("act_bits", &act_bits));
    TF_RETURN_IF_ERROR(CheckActBits(act_bits));
    attrs->act_bits = static_cast<int>(act_bits);
  }
  return absl::OkStatus();
}

bool ConvAxis(int64_t in, int64_t k, int64_t stride, bool same, int64_t* out, int64_t* pad) {
  if (same) {
    *out = (in + stride - 1) / stride;
    *pad = std::max<int64_t>((*out - 1) * stride + k - in, 0) / 2;
  } else {
    *out = in >= k ? (in - k) / stride + 1 : 0;
    *pad = 0;
  }
  return *out > 0;
}

absl::Status MakeBlockGeometry(const BlockAttrs& a, int64_t n, int64_t h, int64_t w, int64_t c,
                               int64_t kh, int64_t kw, BlockGeometry* g) {
  if (kh < 1 || kw < 1 || c < 1) {
    return InvalidArgument("the kernel must have a non-empty (height, width, channels), got (",
                           kh, ", ", kw, ", ", c, ")");
  }
  *g = BlockGeometry{};
  g->n = n; g->h = h; g->w = w; g->c = c; g->kh = kh; g->kw = kw; g->sh = a.sh; g->sw = a.sw;
  if (!ConvAxis(h, kh, a.sh, a.same, &g->oh, &g->pad_top) ||
      !ConvAxis(w, kw, a.sw, a.same, &g->ow, &g->pad_left)) {
    return InvalidArgument("input of ", h, "x", w, " is smaller than the ", kh, "x", kw,
                           " kernel with ", a.same ? "SAME" : "VALID", " padding");
  }
  g->pool = a.pool;
  g->pool_h = a.pool_h; g->pool_w = a.pool_w; g->pool_sh = a.pool_sh; g->pool_sw = a.pool_sw;
  if (a.pool == kPoolMax) {
    if (!ConvAxis(g->oh, a.pool_h, a.pool_sh, a.same, &g->poh, &g->pool_top) ||
        !ConvAxis(g->ow, a.pool_w, a.pool_sw, a.same, &g->pow, &g->pool_left)) {
      return InvalidArgument("the ", a.pool_h, "x", a.pool_w, " max pooling does not fit the ",
                             g->oh, "x", g->ow, " convolution output with VALID padding");
    }
    g->out_h = g->poh;
    g->out_w = g->pow;
  } else if (a.pool == kPoolGlobalSum) {
    g->out_h = g->out_w = 1;
  } else {
    g->out_h = g->oh;
    g->out_w = g->ow;
  }
  return absl::OkStatus();
}

absl::Status ConvBlockShape(InferenceContext* c, int kernel_input, int kernel_rank, int f_input,
                            int f_dim, int fire_input) {
  ShapeHandle x, kernel;
  TF_RETURN_IF_ERROR(c->WithRank(c->input(0), 4, &x));
  TF_RETURN_IF_ERROR(c->WithRank(c->input(kernel_input), kernel_rank, &kernel));
  DimensionHandle channels;
  TF_RETURN_IF_ERROR(c->Merge(c->Dim(x, 3), c->Dim(kernel, 2), &channels));
  ShapeHandle f_shape;
  TF_RETURN_IF_ERROR(c->WithRankAtLeast(c->input(f_input), f_dim + 1, &f_shape));
  DimensionHandle f = c->Dim(f_shape, f_dim);
  if (fire_input >= 0) {
    for (int i = fire_input; i < fire_input + 2; ++i) {
      ShapeHandle v;
      TF_RETURN_IF_ERROR(c->WithRank(c->input(i), 1, &v));
      TF_RETURN_IF_ERROR(c->Merge(f, c->Dim(v, 0), &f));
    }
    int64_t act_bits = 0;
    TF_RETURN_IF_ERROR(c->GetAttr("act_bits", &act_bits));
    TF_RETURN_IF_ERROR(CheckActBits(act_bits));
  }
  BlockAttrs attrs;
  TF_RETURN_IF_ERROR(GetCommonAttrs(c, &attrs));
  DimensionHandle out_dims[2];
  const int64_t strides[2] = {attrs.sh, attrs.sw};
  const int64_t pool_size[2] = {attrs.pool_h, attrs.pool_w};
  const int64_t pool_strides[2] = {attrs.pool_sh, attrs.pool_sw};
  for (int axis = 0; axis < 2; ++axis) {
    const int64_t in = c->Value(c->Dim(x, 1 + axis));
    const int64_t k = c->Value(c->Dim(kernel, axis));
    if (attrs.pool == kPoolGlobalSum) {
      out_dims[axis] = c->MakeDim(1);
      continue;
    }
    if (in == InferenceContext::kUnknownDim || k == InferenceContext::kUnknownDim) {
      out_dims[axis] = c->UnknownDim();
      continue;
    }
    int64_t out = 0, pad = 0;
    if (!ConvAxis(in, k, strides[axis], attrs.same, &out, &pad)) {
      return InvalidArgument("input size ", in, " is smaller than the kernel size ", k,
                             " with VALID padding");
    }
    if (attrs.pool == kPoolMax &&
        !ConvAxis(out, pool_size[axis], pool_strides[axis], attrs.same, &out, &pad)) {
      return InvalidArgument("pool size ", pool_size[axis],
                             " is larger than the convolution output size ", out,
                             " with VALID padding");
    }
    out_dims[axis] = c->MakeDim(out);
  }
  c->set_output(0, c->MakeShape({c->Dim(x, 0), out_dims[0], out_dims[1], f}));
  return absl::OkStatus();
}

void PadBand(const BlockGeometry& g, const uint8_t* image, uint8_t pad, int64_t row0,
             int64_t rows, int64_t width, uint8_t* out) {
  const int64_t in_rows = (rows - 1) * g.sh + g.kh;
  const int64_t row_bytes = width * g.c;
  const int64_t left = std::min(g.pad_left, width);                       // padded columns
  const int64_t inside = std::clamp<int64_t>(g.w, 0, width - left);       // image columns
  for (int64_t i = 0; i < in_rows; ++i) {
    const int64_t iy = row0 * g.sh - g.pad_top + i;
    uint8_t* dst = out + i * row_bytes;
    if (iy < 0 || iy >= g.h) {
      std::memset(dst, pad, row_bytes);
      continue;
    }
    std::memset(dst, pad, left * g.c);
    std::memcpy(dst + left * g.c, image + iy * g.w * g.c, inside * g.c);
    std::memset(dst + (left + inside) * g.c, pad, (width - left - inside) * g.c);
  }
  std::memset(out + in_rows * row_bytes, 0, 64);
}

void* ThreadScratch(int slot, size_t bytes) {
  thread_local ScratchSlot slots[kScratchSlots];
  ScratchSlot& s = slots[slot];
  if (s.size < bytes) {
    s.data.reset(new uint8_t[bytes + 64]);
    s.size = bytes;
  }
  const uintptr_t p = reinterpret_cast<uintptr_t>(s.data.get());
  return reinterpret_cast<void*>((p + 63) & ~uintptr_t{63});
}

absl::Status CheckRank(const tensorflow::Tensor& t, int rank, const char* name) {
  if (t.dims() != rank) {
    return InvalidArgument(name, " must have rank ", rank, ", got shape ",
                           t.shape().DebugString());
  }
  return absl::OkStatus();
}

absl::Status CheckFireInputs(const tensorflow::Tensor& threshold,
                             const tensorflow::Tensor& act_step, int64_t f) {
  if (threshold.dims() != 1 || threshold.dim_size(0) != f) {
    return InvalidArgument("threshold must have shape (", f, ",) (one per output channel), got ",
                           threshold.shape().DebugString());
  }
  if (act_step.dims() != 1 || act_step.dim_size(0) != f) {
    return InvalidArgument("act_step must have shape (", f, ",) (one per output channel), got ",
                           act_step.shape().DebugString());
  }
  return absl::OkStatus();
}

absl::Status RunBlock(tensorflow::OpKernelContext* ctx, const BlockRun& run,
                      const TileFn& tile_fn, tensorflow::Tensor* out) {
  const BlockGeometry& g = *run.geometry;
  if (g.n == 0 || g.oh == 0 || g.ow == 0 || run.f == 0) return absl::OkStatus();
  auto* workers = ctx->device()->tensorflow_cpu_worker_threads()->workers;
  const bool global = g.pool == kPoolGlobalSum;
  const int64_t rows_out = g.pool == kPoolMax ? g.poh : g.oh;
  const int64_t max_conv_rows =
      std::max<int64_t>(1, kTileBudgetBytes / std::max<int64_t>(1, run.tile_row_bytes));
  int64_t band = g.pool == kPoolMax
                     ? std::max<int64_t>(1, (max_conv_rows - g.pool_h) / g.pool_sh + 1)
                     : max_conv_rows;
  band = std::min(band, rows_out);
  // Small batches: split images into bands so that every thread gets work. A global sum is
  // sequential within an image (it saturates), so its bands stay in one work unit.
  const int64_t min_bands = (2 * workers->NumThreads() + g.n - 1) / g.n;
  if (!global && (rows_out + band - 1) / band < min_bands) {
    band = std::max<int64_t>(1, (rows_out + min_bands - 1) / min_bands);
  }
  const int64_t bands = (rows_out + band - 1) / band;
  const int64_t bands_per_unit = global ? bands : 1;
  const int64_t units = g.n * bands / bands_per_unit;
  const bool fires = run.fire != nullptr;
  const int64_t image_elems = g.out_h * g.out_w * run.f;
  char* out_base = fires ? reinterpret_cast<char*>(out->flat<uint8_t>().data())
                         : reinterpret_cast<char*>(out->flat<int32_t>().data());
  const int64_t elem_bytes = fires ? 1 : 4;

  std::mutex error_mu;
  absl::Status error;
  auto work = [&](int64_t begin, int64_t end) {
    for (int64_t u = begin; u < end; ++u) {
      const int64_t n = u * bands_per_unit / bands;
      int64_t* sum = nullptr;
      if (global) {
        sum = static_cast<int64_t*>(
            ThreadScratch(4, static_cast<size_t>(run.f) * sizeof(int64_t)));
        std::fill(sum, sum + run.f, 0);
      }
      for (int64_t b = (u * bands_per_unit) % bands; b < (u * bands_per_unit) % bands +
                                                          bands_per_unit; ++b) {
        const int64_t o0 = b * band;
        const int64_t o1 = std::min(o0 + band, rows_out);
        int64_t c0, c1;
        ConvRowsOf(g, o0, o1, &c0, &c1);
        int32_t* tile = static_cast<int32_t*>(ThreadScratch(
            2, static_cast<size_t>((c1 - c0) * g.ow * run.ldc) * sizeof(int32_t)));
        absl::Status s = tile_fn(n, c0, c1 - c0, tile, run.ldc);
        if (!s.ok()) {
          std::lock_guard<std::mutex> lock(error_mu);
          if (error.ok()) error = s;
          return;
        }
        EpilogueArgs a{};
        a.tile = tile;
        a.ldc = run.ldc;
        a.row0 = c0; a.rows = c1 - c0; a.oh = g.oh; a.ow = g.ow; a.f = run.f;
        a.pool = g.pool;
        a.pool_h = g.pool_h; a.pool_w = g.pool_w; a.pool_sh = g.pool_sh; a.pool_sw = g.pool_sw;
        a.pool_top = g.pool_top; a.pool_left = g.pool_left; a.pow = g.pow;
        a.out_row0 = o0; a.out_rows = o1 - o0;
        a.saturate20 = run.saturate20 ? 1 : 0;
        a.fire = fires ? &run.fire->table() : nullptr;
        a.out = out_base + n * image_elems * elem_bytes;
        a.gsum = sum;
        a.scratch = static_cast<int32_t*>(
            ThreadScratch(3, static_cast<size_t>((g.ow + 1) * run.f) * sizeof(int32_t)));
        run.kernels->epilogue(a);
      }
      if (global) {
        for (int64_t i = 0; i < run.f; ++i) {
          if (fires) {
            out->flat<uint8_t>()(n * run.f + i) = run.fire->Level(i, sum[i]);
          } else {
            out->flat<int32_t>()(n * run.f + i) = static_cast<int32_t>(sum[i]);
          }
        }
      }
    }
  };
  const int64_t conv_rows_per_unit = band * bands_per_unit * (g.pool == kPoolMax ? g.pool_sh : 1);
  const int64_t cost = conv_rows_per_unit * (run.macs_per_row / 16 + run.tile_row_bytes);
  workers->ParallelFor(units, tsl::thread::ThreadPool::SchedulingParams::Adaptive(cost), work);
  return error;
}

}  // namespace akida_ops
