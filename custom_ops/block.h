// What the three block ops share: attributes, geometry, shape inference, and the driver that
// splits a batch into row bands, computes each band's potentials into a cache-sized tile and
// pools / fires it there, on TensorFlow's intra-op thread pool.
#ifndef CNN2SNN_TFMOT_CUSTOM_OPS_BLOCK_H_
#define CNN2SNN_TFMOT_CUSTOM_OPS_BLOCK_H_

#include <cstdint>
#include <functional>
#include <vector>

#include "absl/status/status.h"
#include "fire.h"
#include "isa_api.h"
#include "tensorflow/core/framework/op_kernel.h"
#include "tensorflow/core/framework/shape_inference.h"

namespace akida_ops {

// Attribute declarations shared by the REGISTER_OP calls of the convolutional blocks.
#define AKIDA_CONV_BLOCK_ATTRS                                    \
  Attr("strides: list(int) = [1, 1]")                             \
      .Attr("padding: {'SAME', 'VALID'}")                         \
      .Attr("pool_type: {'none', 'max', 'global_sum'} = 'none'")  \
      .Attr("pool_size: list(int) = [1, 1]")                      \
      .Attr("pool_strides: list(int) = [1, 1]")

struct BlockAttrs {
  int64_t sh = 1, sw = 1;
  bool same = true;
  int64_t padding_value = 0;
  int pool = kPoolNone;
  int64_t pool_h = 1, pool_w = 1, pool_sh = 1, pool_sw = 1;
  int act_bits = 0;  // 0: the op returns int32 potentials
};

// Reads and validates the attributes above (+ padding_value, act_bits when the op has them).
absl::Status ParseBlockAttrs(tensorflow::OpKernelConstruction* ctx, bool has_padding_value,
                             bool fires, BlockAttrs* attrs);

struct BlockGeometry {
  int64_t n, h, w, c, kh, kw, sh, sw, pad_top, pad_left, oh, ow;
  int pool;
  int64_t pool_h, pool_w, pool_sh, pool_sw, pool_top, pool_left, poh, pow;
  int64_t out_h, out_w;  // block output: (poh, pow), (oh, ow) or (1, 1)
};

// TensorFlow's padding rule for one axis; false when the output would be empty.
bool ConvAxis(int64_t in, int64_t k, int64_t stride, bool same, int64_t* out, int64_t* pad);

absl::Status MakeBlockGeometry(const BlockAttrs& attrs, int64_t n, int64_t h, int64_t w,
                               int64_t c, int64_t kh, int64_t kw, BlockGeometry* g);

// Shape function of a convolutional block op: x (N, H, W, C), kernel dims (kh, kw) taken from
// input `kernel_input`, output channels from dimension `f_dim` of input `f_input`; threshold
// and act_step (inputs 3, 4 or 2, 3) must be vectors of F when `fire_input` >= 0.
absl::Status ConvBlockShape(tensorflow::shape_inference::InferenceContext* c, int kernel_input,
                            int kernel_rank, int f_input, int f_dim, int fire_input);

// Computes conv output rows [row0, row0 + rows) of image n into tile (pixel stride ldc).
using TileFn = std::function<absl::Status(int64_t n, int64_t row0, int64_t rows,
                                          int32_t* tile, int64_t ldc)>;

struct BlockRun {
  const BlockGeometry* geometry;
  int64_t f;
  int64_t ldc;                // int32 per pixel in the tile (>= f)
  int64_t tile_row_bytes;     // scratch bytes one conv output row needs (A tile + potentials)
  int64_t macs_per_row;       // for the thread pool's cost model
  const IsaKernels* kernels;
  const FireLadder* fire;     // null: int32 output
  bool saturate20;
};

// Runs the block over the batch into `out` (N, out_h, out_w, F), uint8 or int32.
absl::Status RunBlock(tensorflow::OpKernelContext* ctx, const BlockRun& run,
                      const TileFn& tile_fn, tensorflow::Tensor* out);

// Copies the input rows that output rows [row0, row0 + rows) read, with their padding (`pad`), as
// rows of `width` = (ow - 1) * sw + kw pixels, followed by 64 zero bytes of slack for kernels
// that read a little past the last pixel. Every patch is then inside the band.
void PadBand(const BlockGeometry& g, const uint8_t* image, uint8_t pad, int64_t row0,
             int64_t rows, int64_t width, uint8_t* out);

// Conv output rows [*c0, *c1) that block output rows [o0, o1) read (through max pooling).
void ConvRowsOf(const BlockGeometry& g, int64_t o0, int64_t o1, int64_t* c0, int64_t* c1);

// Per-thread grow-only scratch buffers (slots 0 .. kScratchSlots - 1), 64-byte aligned; slots 0
// and 1 are for TileFns, 2..4 for the driver, 5.. for the direct engine (direct_run.cc).
inline constexpr int kScratchSlots = 18;
void* ThreadScratch(int slot, size_t bytes);

// Validation helpers shared by the ops (InvalidArgument with the op's argument names).
absl::Status CheckRank(const tensorflow::Tensor& t, int rank, const char* name);
absl::Status CheckFireInputs(const tensorflow::Tensor& threshold,
                             const tensorflow::Tensor& act_step, int64_t f);

}  // namespace akida_ops

#endif  // CNN2SNN_TFMOT_CUSTOM_OPS_BLOCK_H_
