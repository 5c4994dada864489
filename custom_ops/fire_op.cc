// AkidaFire: the fire rule alone, on int32 potentials of any shape (..., F); and
// AkidaKernelSet: which kernel table (instruction set) the ops use on this CPU.
#include <string>
#include <vector>

#include "block.h"
#include "isa_select.h"
#include "tensorflow/core/framework/op.h"
#include "tensorflow/core/framework/op_kernel.h"
#include "tensorflow/core/platform/threadpool.h"

namespace akida_ops {
namespace {

using tensorflow::OpKernelConstruction;
using tensorflow::OpKernelContext;
using tensorflow::Tensor;
using tensorflow::errors::InvalidArgument;
using tensorflow::shape_inference::DimensionHandle;
using tensorflow::shape_inference::InferenceContext;
using tensorflow::shape_inference::ShapeHandle;

class AkidaFireOp : public tensorflow::OpKernel {
 public:
  explicit AkidaFireOp(OpKernelConstruction* ctx) : OpKernel(ctx) {
    int64_t act_bits = 0;
    OP_REQUIRES_OK(ctx, ctx->GetAttr("act_bits", &act_bits));
    OP_REQUIRES_OK(ctx, CheckActBits(act_bits));
    act_bits_ = static_cast<int>(act_bits);
  }

  void Compute(OpKernelContext* ctx) override {
    const Tensor& p = ctx->input(0);
    OP_REQUIRES(ctx, p.dims() >= 1,
                InvalidArgument("potentials must have rank >= 1 (..., F), got a scalar"));
    const int64_t f = p.dim_size(p.dims() - 1);
    OP_REQUIRES_OK(ctx, CheckFireInputs(ctx->input(1), ctx->input(2), f));
    FireLadder fire;
    OP_REQUIRES_OK(ctx, fire.Build(ctx->input(1), ctx->input(2), act_bits_));
    Tensor* out = nullptr;
    OP_REQUIRES_OK(ctx, ctx->allocate_output(0, p.shape(), &out));
    if (p.NumElements() == 0) return;
    const IsaKernels* kernels = nullptr;
    OP_REQUIRES_OK(ctx, SelectIsa(&kernels));
    const int64_t pixels = p.NumElements() / f;
    const int32_t* in = p.flat<int32_t>().data();
    uint8_t* levels = out->flat<uint8_t>().data();
    auto work = [&](int64_t begin, int64_t end) {
      EpilogueArgs a{};
      a.tile = in + begin * f;
      a.ldc = f;
      a.row0 = begin; a.rows = end - begin; a.oh = pixels; a.ow = 1; a.f = f;
      a.pool = kPoolNone;
      a.out_row0 = begin; a.out_rows = end - begin;
      a.fire = &fire.table();
      a.out = levels;
      a.scratch = static_cast<int32_t*>(
          ThreadScratch(3, static_cast<size_t>(2 * f) * sizeof(int32_t)));  // (ow + 1) * f
      kernels->epilogue(a);
    };
    ctx->device()->tensorflow_cpu_worker_threads()->workers->ParallelFor(
        pixels,
        tsl::thread::ThreadPool::SchedulingParams::Adaptive(f * (1 << act_bits_)), work);
  }

 private:
  int act_bits_ = 0;
};

class AkidaKernelSetOp : public tensorflow::OpKernel {
 public:
  explicit AkidaKernelSetOp(OpKernelConstruction* ctx) : OpKernel(ctx) {}

  void Compute(OpKernelContext* ctx) override {
    const IsaKernels* kernels = nullptr;
    OP_REQUIRES_OK(ctx, SelectIsa(&kernels));
    Tensor* selected = nullptr;
    OP_REQUIRES_OK(ctx, ctx->allocate_output(0, {}, &selected));
    selected->scalar<tensorflow::tstring>()() = kernels->name;
    const std::vector<std::string> names = SupportedIsas();
    Tensor* supported = nullptr;
    OP_REQUIRES_OK(ctx, ctx->allocate_output(1, {static_cast<int64_t>(names.size())},
                                             &supported));
    for (size_t i = 0; i < names.size(); ++i) supported->flat<tensorflow::tstring>()(i) = names[i];
  }
};

}  // namespace

REGISTER_OP("Cnn2snnTfmot>AkidaFire")
    .Input("potentials: int32")
    .Input("threshold: int32")
    .Input("act_step: float")
    .Output("levels: uint8")
    .Attr("act_bits: int")
    .SetShapeFn([](InferenceContext* c) {
      ShapeHandle p, v;
      TF_RETURN_IF_ERROR(c->WithRankAtLeast(c->input(0), 1, &p));
      DimensionHandle f = c->Dim(p, -1);
      for (int i = 1; i < 3; ++i) {
        TF_RETURN_IF_ERROR(c->WithRank(c->input(i), 1, &v));
        TF_RETURN_IF_ERROR(c->Merge(f, c->Dim(v, 0), &f));
      }
      int64_t act_bits = 0;
      TF_RETURN_IF_ERROR(c->GetAttr("act_bits", &act_bits));
      TF_RETURN_IF_ERROR(CheckActBits(act_bits));
      c->set_output(0, p);
      return absl::OkStatus();
    })
    .Doc(R"doc(
Akida fire of int32 potentials (..., F) with per-channel threshold (F,) and act_step (F,):
step16 = floor(act_step * 16) * 2**(4 - act_bits),
level = clip(ceil(16 * (P - threshold) / step16), 0, 2**act_bits - 1), exact.
)doc");

REGISTER_OP("Cnn2snnTfmot>AkidaKernelSet")
    .Output("selected: string")
    .Output("supported: string")
    .SetIsStateful()  // the answer depends on the environment variable, not on inputs
    .SetShapeFn([](InferenceContext* c) {
      c->set_output(0, c->Scalar());
      c->set_output(1, c->Vector(InferenceContext::kUnknownDim));
      return absl::OkStatus();
    })
    .Doc(R"doc(
The kernel table the Akida ops use now (CNN2SNN_TFMOT_OPS_ISA or the fastest supported) and
the tables this CPU supports, fastest first.
)doc");

REGISTER_KERNEL_BUILDER(Name("Cnn2snnTfmot>AkidaFire").Device(tensorflow::DEVICE_CPU), AkidaFireOp);
REGISTER_KERNEL_BUILDER(Name("Cnn2snnTfmot>AkidaKernelSet").Device(tensorflow::DEVICE_CPU), AkidaKernelSetOp);

}  // namespace akida_ops
