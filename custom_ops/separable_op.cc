// AkidaSeparable / AkidaSeparableFire: depthwise then pointwise convolution, integer all the
// way (no rounding in between), then optional pooling and fire, fused per row band.
//
// The depthwise sums of a band are kept as int16 when their bound allows it (always for 4-bit
// inputs and 3x3 kernels of up to 8 bits), so that the pointwise GEMM multiplies int16 pairs
// (vpdpwssd / vpmaddwd); wider sums use int32 lanes, and sums that could exceed int32 use int64.
#include <algorithm>
#include <limits>
#include <vector>

#include "block.h"
#include "isa_select.h"
#include "pack.h"
#include "weight_cache.h"
#include "tensorflow/core/framework/op.h"
#include "tensorflow/core/framework/op_kernel.h"

namespace akida_ops {
namespace {

using tensorflow::OpKernelConstruction;
using tensorflow::OpKernelContext;
using tensorflow::Tensor;
using tensorflow::errors::InvalidArgument;
using tensorflow::shape_inference::DimensionHandle;
using tensorflow::shape_inference::InferenceContext;
using tensorflow::shape_inference::ShapeHandle;

constexpr int64_t kInt32Max = std::numeric_limits<int32_t>::max();

absl::Status ReferenceSeparableTile(const BlockGeometry& g, const uint8_t* image,
                                    const int8_t* dw, const int8_t* pw, int64_t f, int64_t row0,
                                    int64_t rows, int32_t* tile, int64_t ldc) {
  std::vector<int64_t> d(static_cast<size_t>(g.c)), acc(static_cast<size_t>(f));
  for (int64_t oy = row0; oy < row0 + rows; ++oy) {
    for (int64_t ox = 0; ox < g.ow; ++ox) {
      std::fill(d.begin(), d.end(), 0);
      for (int64_t ky = 0; ky < g.kh; ++ky) {
        for (int64_t kx = 0; kx < g.kw; ++kx) {
          const int64_t iy = oy * g.sh + ky - g.pad_top, ix = ox * g.sw + kx - g.pad_left;
          if (iy < 0 || iy >= g.h || ix < 0 || ix >= g.w) continue;
          for (int64_t ch = 0; ch < g.c; ++ch) {
            d[ch] += int64_t{image[(iy * g.w + ix) * g.c + ch]} * dw[(ky * g.kw + kx) * g.c + ch];
          }
        }
      }
      std::fill(acc.begin(), acc.end(), 0);
      for (int64_t ch = 0; ch < g.c; ++ch) {
        for (int64_t j = 0; j < f; ++j) acc[j] += d[ch] * pw[ch * f + j];
      }
      int32_t* out = tile + ((oy - row0) * g.ow + ox) * ldc;
      for (int64_t j = 0; j < f; ++j) {
        if (acc[j] < std::numeric_limits<int32_t>::min() || acc[j] > kInt32Max) {
          return InvalidArgument("the potential ", acc[j], " (row ", oy, ", column ", ox,
                                 ", channel ", j, ") does not fit int32");
        }
        out[j] = static_cast<int32_t>(acc[j]);
      }
    }
  }
  return absl::OkStatus();
}

// Weights prepared once per kernel set (weight_cache.h).
struct Prepared {
  std::vector<int64_t> d_bound;  // per channel, for input levels up to 255
  PreparedWeights pointwise;     // int16 pairs, for int16 depthwise sums
  std::vector<int16_t> dw16;
  std::vector<int32_t> dw32;
};

template <bool kFire>
class AkidaSeparableOp : public tensorflow::OpKernel {
 public:
  explicit AkidaSeparableOp(OpKernelConstruction* ctx) : OpKernel(ctx) {
    OP_REQUIRES_OK(ctx, ParseBlockAttrs(ctx, /*has_padding_value=*/false, kFire, &attrs_));
  }

  void Compute(OpKernelContext* ctx) override {
    const Tensor& x = ctx->input(0);
    const Tensor& depthwise = ctx->input(1);
    const Tensor& pointwise = ctx->input(2);
    OP_REQUIRES_OK(ctx, CheckRank(x, 4, "x (N, H, W, C)"));
    OP_REQUIRES_OK(ctx, CheckRank(depthwise, 3, "depthwise (kh, kw, C)"));
    OP_REQUIRES_OK(ctx, CheckRank(pointwise, 2, "pointwise (C, F)"));
    const int64_t c = x.dim_size(3);
    OP_REQUIRES(ctx, depthwise.dim_size(2) == c && pointwise.dim_size(0) == c,
                InvalidArgument("x has ", c, " channels but depthwise ",
                                depthwise.shape().DebugString(), " and pointwise ",
                                pointwise.shape().DebugString(), " must have ", c));
    const int64_t f = pointwise.dim_size(1);
    FireLadder fire;
    if (kFire) {
      OP_REQUIRES_OK(ctx, CheckFireInputs(ctx->input(3), ctx->input(4), f));
      OP_REQUIRES_OK(ctx, fire.Build(ctx->input(3), ctx->input(4), attrs_.act_bits));
    }
    BlockGeometry g;
    OP_REQUIRES_OK(ctx, MakeBlockGeometry(attrs_, x.dim_size(0), x.dim_size(1), x.dim_size(2),
                                          c, depthwise.dim_size(0), depthwise.dim_size(1), &g));
    Tensor* out = nullptr;
    OP_REQUIRES_OK(ctx, ctx->allocate_output(0, {g.n, g.out_h, g.out_w, f}, &out));
    const IsaKernels* kernels = nullptr;
    OP_REQUIRES_OK(ctx, SelectIsa(&kernels));

    const int8_t* dw = depthwise.flat<int8_t>().data();
    const int8_t* pw = pointwise.flat<int8_t>().data();
    const uint8_t* xs = x.flat<uint8_t>().data();
    const int64_t image_bytes = g.h * g.w * c;
    const int64_t taps = g.kh * g.kw;
    // Depthwise weights widened once to the sum type, channels padded to whole blocks of 32.
    const int64_t cw = (c + 31) / 32 * 32;
    const int64_t width = (g.ow - 1) * g.sw + g.kw;  // padded input columns a band reads
    std::shared_ptr<const Prepared> prepared =
        cache_.Get({&depthwise, &pointwise}, kernels->name, [&] {
          auto p = std::make_shared<Prepared>();
          p->d_bound = DepthwiseBounds(dw, taps, c, 255);
          p->pointwise.packed = PackWeights(pw, c, f, kernels->s16_format,
                                            &p->pointwise.storage);
          p->dw16 = Widen<int16_t>(dw, taps, c, cw);
          p->dw32 = Widen<int32_t>(dw, taps, c, cw);
          return p;
        });
    std::vector<int64_t> d_bound = prepared->d_bound;
    int64_t d_max = *std::max_element(d_bound.begin(), d_bound.end());
    if (d_max > 32767) {  // the real input range may still allow int16 sums
      const int64_t n_bytes = x.NumElements();
      const int64_t xmax = n_bytes == 0 ? 0 : *std::max_element(xs, xs + n_bytes);
      d_bound = DepthwiseBounds(dw, taps, c, xmax);
      d_max = *std::max_element(d_bound.begin(), d_bound.end());
    }
    const int64_t p_bound = MaxAbsColumnSum(pw, c, f, d_bound.data());
    const bool exact_int32 = d_max <= kInt32Max && p_bound <= kInt32Max;
    const bool int16_sums = exact_int32 && d_max <= 32767;
    const PackedB& packed = prepared->pointwise.packed;
    const int64_t cp = int16_sums ? packed.kgroups * 2 : c;
    const int64_t ldc = int16_sums ? packed.fp : f;
    const std::vector<int16_t>& dw16 = prepared->dw16;
    const std::vector<int32_t>& dw32 = prepared->dw32;
    TileFn tile_fn = [&](int64_t n, int64_t row0, int64_t rows, int32_t* tile,
                         int64_t tile_ldc) -> absl::Status {
      const uint8_t* image = xs + n * image_bytes;
      if (!exact_int32) {
        return ReferenceSeparableTile(g, image, dw, pw, f, row0, rows, tile, tile_ldc);
      }
      const int64_t elem = int16_sums ? 2 : 4;
      const int64_t in_rows = (rows - 1) * g.sh + g.kh;
      uint8_t* band = static_cast<uint8_t*>(
          ThreadScratch(1, static_cast<size_t>(in_rows * width * c + 64)));
      PadBand(g, image, 0, row0, rows, width, band);
      void* sums = ThreadScratch(0, static_cast<size_t>(rows * g.ow * cp * elem));
      DepthwiseArgs args{band, width, c, cw, g.kh, g.kw, g.sh, g.sw, g.ow, rows,
                         int16_sums ? static_cast<const void*>(dw16.data()) : dw32.data(),
                         sums, cp};
      if (int16_sums) {
        kernels->depthwise_s16(args);
        AView view{sums, cp * 2, rows * g.ow, 0, 1, 0, packed.kgroups};
        kernels->gemm_s16(view, rows * g.ow, packed, tile, tile_ldc);
      } else {
        kernels->depthwise_s32(args);
        kernels->gemm_s32(static_cast<const int32_t*>(sums), cp, rows * g.ow, c, pw, f, tile,
                          tile_ldc);
      }
      return absl::OkStatus();
    };
    const int64_t elem = int16_sums ? 2 : 4;
    BlockRun run{&g, f, ldc, g.ow * (cp * elem + 4 * ldc) + g.sh * width * c,
                 g.ow * c * (taps + f), kernels,
                 kFire ? &fire : nullptr, /*saturate20=*/false};
    OP_REQUIRES_OK(ctx, RunBlock(ctx, run, tile_fn, out));
  }

 private:
  BlockAttrs attrs_;
  WeightCache<Prepared> cache_;
};

absl::Status SeparableShape(InferenceContext* ctx, bool fires) {
  ShapeHandle x, pw;
  TF_RETURN_IF_ERROR(ctx->WithRank(ctx->input(0), 4, &x));
  TF_RETURN_IF_ERROR(ctx->WithRank(ctx->input(2), 2, &pw));
  DimensionHandle channels;
  TF_RETURN_IF_ERROR(ctx->Merge(ctx->Dim(x, 3), ctx->Dim(pw, 0), &channels));
  return ConvBlockShape(ctx, /*kernel_input=*/1, /*kernel_rank=*/3, /*f_input=*/2, /*f_dim=*/1,
                        fires ? 3 : -1);
}

}  // namespace

REGISTER_OP("Cnn2snnTfmot>AkidaSeparable")
    .Input("x: uint8")
    .Input("depthwise: int8")
    .Input("pointwise: int8")
    .Output("potentials: int32")
    .AKIDA_CONV_BLOCK_ATTRS
    .SetShapeFn([](InferenceContext* c) { return SeparableShape(c, false); })
    .Doc(R"doc(
Akida separable convolution block without fire: exact depthwise (zero padding) then pointwise
sums, int32 potentials, then optional pooling (as AkidaConv).

x: uint8 (N, H, W, C).
depthwise: int8 (kh, kw, C), cross-correlation orientation.
pointwise: int8 (C, F).
)doc");

REGISTER_OP("Cnn2snnTfmot>AkidaSeparableFire")
    .Input("x: uint8")
    .Input("depthwise: int8")
    .Input("pointwise: int8")
    .Input("threshold: int32")
    .Input("act_step: float")
    .Output("levels: uint8")
    .AKIDA_CONV_BLOCK_ATTRS
    .Attr("act_bits: int")
    .SetShapeFn([](InferenceContext* c) { return SeparableShape(c, true); })
    .Doc(R"doc(
Akida separable convolution block: as AkidaSeparable, then fire (as AkidaConvFire).
)doc");

REGISTER_KERNEL_BUILDER(Name("Cnn2snnTfmot>AkidaSeparable").Device(tensorflow::DEVICE_CPU),
                        AkidaSeparableOp<false>);
REGISTER_KERNEL_BUILDER(Name("Cnn2snnTfmot>AkidaSeparableFire").Device(tensorflow::DEVICE_CPU),
                        AkidaSeparableOp<true>);

}  // namespace akida_ops
