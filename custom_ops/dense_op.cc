// AkidaDense / AkidaDenseFire: FullyConnected layer, (N, K) uint8 x (K, U) int8, exact sums
// saturated to the 20-bit signed range [-2**19, 2**19 - 1], then optional fire.
//
// The batch is run as one "image" of N rows x 1 column through the block driver, so dense and
// convolutional blocks share the tiling, threading and epilogue.
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

constexpr int64_t kSaturation = (1 << 19) - 1;

template <bool kFire>
class AkidaDenseOp : public tensorflow::OpKernel {
 public:
  explicit AkidaDenseOp(OpKernelConstruction* ctx) : OpKernel(ctx) {
    if (kFire) {
      int64_t act_bits = 0;
      OP_REQUIRES_OK(ctx, ctx->GetAttr("act_bits", &act_bits));
      OP_REQUIRES_OK(ctx, CheckActBits(act_bits));
      act_bits_ = static_cast<int>(act_bits);
    }
  }

  void Compute(OpKernelContext* ctx) override {
    const Tensor& x = ctx->input(0);
    const Tensor& weights = ctx->input(1);
    OP_REQUIRES_OK(ctx, CheckRank(x, 2, "x (N, K)"));
    OP_REQUIRES_OK(ctx, CheckRank(weights, 2, "weights (K, U)"));
    const int64_t n = x.dim_size(0), k = x.dim_size(1), f = weights.dim_size(1);
    OP_REQUIRES(ctx, weights.dim_size(0) == k,
                InvalidArgument("weights have ", weights.dim_size(0), " rows but x has ", k,
                                " features (x ", x.shape().DebugString(), ", weights ",
                                weights.shape().DebugString(), ")"));
    OP_REQUIRES(ctx, k > 0, InvalidArgument("x must have at least one feature"));
    FireLadder fire;
    if (kFire) {
      OP_REQUIRES_OK(ctx, CheckFireInputs(ctx->input(2), ctx->input(3), f));
      OP_REQUIRES_OK(ctx, fire.Build(ctx->input(2), ctx->input(3), act_bits_));
    }
    Tensor* out = nullptr;
    OP_REQUIRES_OK(ctx, ctx->allocate_output(0, {n, f}, &out));
    const IsaKernels* kernels = nullptr;
    OP_REQUIRES_OK(ctx, SelectIsa(&kernels));

    // The batch as one image of n rows and one column; no pooling.
    BlockGeometry g{};
    g.n = 1; g.h = n; g.w = 1; g.c = k; g.kh = g.kw = g.sh = g.sw = 1;
    g.oh = g.out_h = n; g.ow = g.out_w = 1; g.pool = kPoolNone;
    g.pool_h = g.pool_w = g.pool_sh = g.pool_sw = 1;

    const int8_t* w = weights.flat<int8_t>().data();
    const uint8_t* xs = x.flat<uint8_t>().data();
    std::shared_ptr<const PreparedWeights> prepared = cache_.Get({&weights}, kernels->name, [&] {
      auto p = std::make_shared<PreparedWeights>();
      // Saturation needs the exact sum: int32 lanes only when no sum can leave int32.
      p->exact_int32 =
          255 * MaxAbsColumnSum(w, k, f, nullptr) <= std::numeric_limits<int32_t>::max();
      if (p->exact_int32) p->packed = PackWeights(w, k, f, kernels->u8_format, &p->storage);
      return p;
    });
    const bool exact_int32 = prepared->exact_int32;
    const PackedB& packed = prepared->packed;
    const int64_t kp = exact_int32 ? packed.kgroups * kernels->u8_format.group : k;
    const int64_t ldc = exact_int32 ? packed.fp : f;
    TileFn tile_fn = [&](int64_t, int64_t row0, int64_t rows, int32_t* tile,
                         int64_t tile_ldc) -> absl::Status {
      const uint8_t* a = xs + row0 * k;
      if (!exact_int32) {
        std::vector<int64_t> acc(static_cast<size_t>(f));
        for (int64_t r = 0; r < rows; ++r) {
          std::fill(acc.begin(), acc.end(), 0);
          for (int64_t kk = 0; kk < k; ++kk) {
            const int64_t v = a[r * k + kk];
            if (v == 0) continue;
            for (int64_t j = 0; j < f; ++j) acc[j] += v * w[kk * f + j];
          }
          for (int64_t j = 0; j < f; ++j) {
            tile[r * tile_ldc + j] =
                static_cast<int32_t>(std::clamp<int64_t>(acc[j], -kSaturation - 1, kSaturation));
          }
        }
        return absl::OkStatus();
      }
      if (kp != k) {  // rows must be whole k groups: copy them into zero-padded rows
        uint8_t* buffer = static_cast<uint8_t*>(ThreadScratch(0, static_cast<size_t>(rows * kp)));
        for (int64_t r = 0; r < rows; ++r) {
          std::copy(a + r * k, a + (r + 1) * k, buffer + r * kp);
          std::fill(buffer + r * kp + k, buffer + (r + 1) * kp, 0);
        }
        a = buffer;
      }
      AView view{a, kp, rows, 0, 1, 0, packed.kgroups};
      kernels->gemm_u8(view, rows, packed, tile, tile_ldc);
      return absl::OkStatus();
    };
    BlockRun run{&g, f, ldc, kp + 4 * ldc, k * f, kernels, kFire ? &fire : nullptr,
                 /*saturate20=*/true};
    OP_REQUIRES_OK(ctx, RunBlock(ctx, run, tile_fn, out));
  }

 private:
  int act_bits_ = 0;
  WeightCache<PreparedWeights> cache_;
};

absl::Status DenseShape(InferenceContext* c, bool fires) {
  ShapeHandle x, w;
  TF_RETURN_IF_ERROR(c->WithRank(c->input(0), 2, &x));
  TF_RETURN_IF_ERROR(c->WithRank(c->input(1), 2, &w));
  DimensionHandle k;
  TF_RETURN_IF_ERROR(c->Merge(c->Dim(x, 1), c->Dim(w, 0), &k));
  DimensionHandle f = c->Dim(w, 1);
  if (fires) {
    for (int i = 2; i < 4; ++i) {
      ShapeHandle v;
      TF_RETURN_IF_ERROR(c->WithRank(c->input(i), 1, &v));
      TF_RETURN_IF_ERROR(c->Merge(f, c->Dim(v, 0), &f));
    }
    int64_t act_bits = 0;
    TF_RETURN_IF_ERROR(c->GetAttr("act_bits", &act_bits));
    TF_RETURN_IF_ERROR(CheckActBits(act_bits));
  }
  c->set_output(0, c->Matrix(c->Dim(x, 0), f));
  return absl::OkStatus();
}

}  // namespace

REGISTER_OP("Cnn2snnTfmot>AkidaDense")
    .Input("x: uint8")
    .Input("weights: int8")
    .Output("potentials: int32")
    .SetShapeFn([](InferenceContext* c) { return DenseShape(c, false); })
    .Doc(R"doc(
Akida FullyConnected without fire: exact x @ weights, saturated to [-2**19, 2**19 - 1].

x: uint8 (N, K), already flattened in the runtime's order.
weights: int8 (K, U).
potentials: int32 (N, U).
)doc");

REGISTER_OP("Cnn2snnTfmot>AkidaDenseFire")
    .Input("x: uint8")
    .Input("weights: int8")
    .Input("threshold: int32")
    .Input("act_step: float")
    .Output("levels: uint8")
    .Attr("act_bits: int")
    .SetShapeFn([](InferenceContext* c) { return DenseShape(c, true); })
    .Doc(R"doc(
Akida FullyConnected block: saturated potentials (as AkidaDense), then fire (as AkidaConvFire).
)doc");

REGISTER_KERNEL_BUILDER(Name("Cnn2snnTfmot>AkidaDense").Device(tensorflow::DEVICE_CPU), AkidaDenseOp<false>);
REGISTER_KERNEL_BUILDER(Name("Cnn2snnTfmot>AkidaDenseFire").Device(tensorflow::DEVICE_CPU),
                        AkidaDenseOp<true>);

}  // namespace akida_ops
