// AkidaConv / AkidaConvFire: integer convolution -> optional pooling -> optional fire, fused.
//
// Each row band is a GEMM of uint8 levels by packed int8 weights (exact int32 accumulation)
// whose potentials are pooled and fired while still in cache. There is no im2col: the band's
// input rows are copied once with their padding, where every kernel row of every patch is a
// contiguous run of kw * C bytes that the GEMM reads in place (an AView with one segment per
// kernel row); the weights are packed with each kernel row padded to whole k groups.
#include <algorithm>
#include <cstring>
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

// Exact int64 convolution of a tile: the path for weights whose worst-case sum exceeds int32
// (fan-in above ~66,000 at 8 bits), where a potential may really not fit.
absl::Status ReferenceConvTile(const BlockGeometry& g, const uint8_t* image, const int8_t* w,
                               int64_t f, uint8_t pad_value, int64_t row0, int64_t rows,
                               int32_t* tile, int64_t ldc) {
  std::vector<int64_t> acc(static_cast<size_t>(f));
  for (int64_t oy = row0; oy < row0 + rows; ++oy) {
    for (int64_t ox = 0; ox < g.ow; ++ox) {
      std::fill(acc.begin(), acc.end(), 0);
      for (int64_t ky = 0; ky < g.kh; ++ky) {
        for (int64_t kx = 0; kx < g.kw; ++kx) {
          const int64_t iy = oy * g.sh + ky - g.pad_top, ix = ox * g.sw + kx - g.pad_left;
          const bool inside = iy >= 0 && iy < g.h && ix >= 0 && ix < g.w;
          for (int64_t ch = 0; ch < g.c; ++ch) {
            const int64_t v = inside ? image[(iy * g.w + ix) * g.c + ch] : pad_value;
            const int8_t* wk = w + ((ky * g.kw + kx) * g.c + ch) * f;
            for (int64_t j = 0; j < f; ++j) acc[j] += v * wk[j];
          }
        }
      }
      int32_t* out = tile + ((oy - row0) * g.ow + ox) * ldc;
      for (int64_t j = 0; j < f; ++j) {
        if (acc[j] < std::numeric_limits<int32_t>::min() ||
            acc[j] > std::numeric_limits<int32_t>::max()) {
          return InvalidArgument("the potential ", acc[j], " (row ", oy, ", column ", ox,
                                 ", channel ", j, ") does not fit int32");
        }
        out[j] = static_cast<int32_t>(acc[j]);
      }
    }
  }
  return absl::OkStatus();
}

template <bool kFire>
class AkidaConvOp : public tensorflow::OpKernel {
 public:
  explicit AkidaConvOp(OpKernelConstruction* ctx) : OpKernel(ctx) {
    OP_REQUIRES_OK(ctx, ParseBlockAttrs(ctx, /*has_padding_value=*/true, kFire, &attrs_));
  }

  void Compute(OpKernelContext* ctx) override {
    const Tensor& x = ctx->input(0);
    const Tensor& kernel = ctx->input(1);
    OP_REQUIRES_OK(ctx, CheckRank(x, 4, "x (N, H, W, C)"));
    OP_REQUIRES_OK(ctx, CheckRank(kernel, 4, "kernel (kh, kw, C, F)"));
    OP_REQUIRES(ctx, kernel.dim_size(2) == x.dim_size(3),
                InvalidArgument("kernel has ", kernel.dim_size(2), " input channels but x has ",
                                x.dim_size(3), " (x ", x.shape().DebugString(), ", kernel ",
                                kernel.shape().DebugString(), ")"));
    const int64_t f = kernel.dim_size(3);
    FireLadder fire;
    if (kFire) {
      OP_REQUIRES_OK(ctx, CheckFireInputs(ctx->input(2), ctx->input(3), f));
      OP_REQUIRES_OK(ctx, fire.Build(ctx->input(2), ctx->input(3), attrs_.act_bits));
    }
    BlockGeometry g;
    OP_REQUIRES_OK(ctx, MakeBlockGeometry(attrs_, x.dim_size(0), x.dim_size(1), x.dim_size(2),
                                          x.dim_size(3), kernel.dim_size(0), kernel.dim_size(1),
                                          &g));
    Tensor* out = nullptr;
    OP_REQUIRES_OK(ctx, ctx->allocate_output(0, {g.n, g.out_h, g.out_w, f}, &out));
    const IsaKernels* kernels = nullptr;
    OP_REQUIRES_OK(ctx, SelectIsa(&kernels));

    const int64_t k = g.kh * g.kw * g.c;
    const int8_t* w = kernel.flat<int8_t>().data();
    const uint8_t* xs = x.flat<uint8_t>().data();
    const int64_t image_bytes = g.h * g.w * g.c;
    const uint8_t pad_value = static_cast<uint8_t>(attrs_.padding_value);
    const int64_t group = kernels->u8_format.group;
    const int64_t span = g.kw * g.c;
    const int64_t kps = (span + group - 1) / group;   // k groups per kernel row
    const int64_t width = (g.ow - 1) * g.sw + g.kw;   // padded input columns a band reads
    std::shared_ptr<const PreparedWeights> prepared = cache_.Get({&kernel}, kernels->name, [&] {
      auto p = std::make_shared<PreparedWeights>();
      // Every partial sum is bounded by 255 * sum_k |w[k, f]|: below 2**31 int32 lanes are
      // exact.
      p->exact_int32 =
          255 * MaxAbsColumnSum(w, k, f, nullptr) <= std::numeric_limits<int32_t>::max();
      if (p->exact_int32) {
        const std::vector<int8_t> rows = SegmentRows(w, g.kh, span, f, kps * group);
        p->packed = PackWeights(rows.data(), g.kh * kps * group, f, kernels->u8_format,
                                &p->storage);
      }
      return p;
    });
    const bool exact_int32 = prepared->exact_int32;
    const PackedB& packed = prepared->packed;
    const int64_t ldc = exact_int32 ? packed.fp : f;
    // A 1x1, stride-1 convolution is a GEMM on the image's pixels as they are.
    const bool direct = g.kh == 1 && g.kw == 1 && g.sh == 1 && g.sw == 1 && g.c % group == 0;

    TileFn tile_fn = [&](int64_t n, int64_t row0, int64_t rows, int32_t* tile,
                         int64_t tile_ldc) -> absl::Status {
      const uint8_t* image = xs + n * image_bytes;
      if (!exact_int32) {
        return ReferenceConvTile(g, image, w, f, pad_value, row0, rows, tile, tile_ldc);
      }
      AView a{};
      a.nseg = g.kh;
      a.kgroups_per_seg = kps;
      if (direct) {
        a.base = image + row0 * g.w * g.c;
        a.lda = g.c;
        a.row_len = rows * g.ow;
      } else {
        const int64_t in_rows = (rows - 1) * g.sh + g.kh;
        uint8_t* band = static_cast<uint8_t*>(
            ThreadScratch(0, static_cast<size_t>(in_rows * width * g.c + 64)));
        PadBand(g, image, pad_value, row0, rows, width, band);
        a.base = band;
        a.lda = g.sw * g.c;
        a.row_len = g.ow;
        a.row_stride = g.sh * width * g.c;
        a.seg_stride = width * g.c;
      }
      kernels->gemm_u8(a, rows * g.ow, packed, tile, tile_ldc);
      return absl::OkStatus();
    };
    const int64_t tile_row_bytes = g.ow * 4 * ldc + g.sh * width * g.c;
    BlockRun run{&g, f, ldc, tile_row_bytes, g.ow * k * f, kernels, kFire ? &fire : nullptr,
                 /*saturate20=*/false};
    OP_REQUIRES_OK(ctx, RunBlock(ctx, run, tile_fn, out));
  }

 private:
  BlockAttrs attrs_;
  WeightCache<PreparedWeights> cache_;
};

}  // namespace

REGISTER_OP("Cnn2snnTfmot>AkidaConv")
    .Input("x: uint8")
    .Input("kernel: int8")
    .Output("potentials: int32")
    .AKIDA_CONV_BLOCK_ATTRS
    .Attr("padding_value: int = 0")
    .SetShapeFn([](tensorflow::shape_inference::InferenceContext* c) {
      return ConvBlockShape(c, /*kernel_input=*/1, /*kernel_rank=*/4, /*f_input=*/1,
                            /*f_dim=*/3, /*fire_input=*/-1);
    })
    .Doc(R"doc(
Akida convolution block without fire: exact int32 potentials, then optional pooling.

x: uint8 (N, H, W, C) input levels.
kernel: int8 (kh, kw, C, F), cross-correlation orientation (as tf.nn.conv2d).
potentials: int32 (N, H', W', F); global_sum gives (N, 1, 1, F).
strides: convolution strides (height, width).
padding: TensorFlow's rule; SAME pads with padding_value.
pool_type: 'max' pools the potentials (SAME windows ignore cells outside) and saturates them
  to [-2**19, 2**19 - 1]; 'global_sum' adds them over H x W in row-major order, saturating to
  that range after every addition (as the akida runtime does).
padding_value: input level of the SAME padding (InputConvolutional: the input shift).
)doc");

REGISTER_OP("Cnn2snnTfmot>AkidaConvFire")
    .Input("x: uint8")
    .Input("kernel: int8")
    .Input("threshold: int32")
    .Input("act_step: float")
    .Output("levels: uint8")
    .AKIDA_CONV_BLOCK_ATTRS
    .Attr("padding_value: int = 0")
    .Attr("act_bits: int")
    .SetShapeFn([](tensorflow::shape_inference::InferenceContext* c) {
      return ConvBlockShape(c, 1, 4, 1, 3, /*fire_input=*/2);
    })
    .Doc(R"doc(
Akida convolution block: convolution, optional pooling, fire, fused.

Like AkidaConv, then per channel f: step16 = floor(act_step[f] * 16) * 2**(4 - act_bits),
level = clip(ceil(16 * (P - threshold[f]) / step16), 0, 2**act_bits - 1), in integers.
)doc");

REGISTER_KERNEL_BUILDER(Name("Cnn2snnTfmot>AkidaConv").Device(tensorflow::DEVICE_CPU), AkidaConvOp<false>);
REGISTER_KERNEL_BUILDER(Name("Cnn2snnTfmot>AkidaConvFire").Device(tensorflow::DEVICE_CPU),
                        AkidaConvOp<true>);

}  // namespace akida_ops
