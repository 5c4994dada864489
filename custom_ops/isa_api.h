// The interface between the TensorFlow-facing op code and the per-instruction-set kernels.
//
// Each isa_*.cc file compiles the same kernels for one instruction set (baseline, AVX2,
// AVX-512BW, AVX-512 VNNI) with a target pragma, so the library itself stays built for the
// baseline CPU and the fastest table is picked at run time (isa_select.cc). Those files must not
// share inline functions or templates with other files: the linker could keep an AVX-512 copy
// and call it on a CPU without AVX-512. That is why this header holds only plain structs and
// declarations (no inline code), and the kernels live in anonymous namespaces.
//
// All arithmetic is exact integer arithmetic: products of uint8 levels (or int16 depthwise sums)
// with int8 weights are accumulated in int32 lanes. int32 additions wrap modulo 2**32, so the
// result is exact whenever the true sum fits int32; the op code checks that bound first.
#ifndef CNN2SNN_TFMOT_CUSTOM_OPS_ISA_API_H_
#define CNN2SNN_TFMOT_CUSTOM_OPS_ISA_API_H_

#include <cstdint>

namespace akida_ops {

// How a kernel wants its (K, F) weight matrix packed (see pack.cc).
// Panels of `nr` output channels (the last one narrower, rounded up to `lanes`); inside a
// panel, for each group of `group` consecutive k, the panel's channels each hold `group`
// weights side by side, as `elem_bytes`-byte integers.
struct PackingFormat {
  int group;       // 4 for uint8 x int8 dot products (VNNI), 2 for int16 pair products
  int elem_bytes;  // 1 (int8) or 2 (int16)
  int nr;          // panel width in output channels
  int lanes;       // int32 lanes per vector register
};

struct PackedB {
  const void* data;
  int64_t kgroups;  // ceil(K / group)
  int64_t f;        // true number of output channels
  int64_t fp;       // f rounded up to `lanes`; columns [f, fp) of C are written (zeros)
  int64_t nr;
};

// Fire of one channel f (see fire.h for the proofs), in one of two exact forms:
//  ladder:   level = min(max_level[f], #{j : P >= ladder[j * f_count + f]})
//  division: level = min(levels, int(x * scale[f] + bias[f])),
//            x = float(clamp(P, low[f], high[f]) - low[f]); valid when division_ok;
//            the same in double with scale64 / bias64 when division_wide_ok.
struct FireTable {
  const int32_t* ladder;     // [levels][f_count]
  const int32_t* max_level;  // [f_count]
  int levels;                // 2**act_bits - 1
  int64_t f_count;
  int division_ok;
  const int32_t* low;        // [f_count] threshold
  const int32_t* high;       // [f_count] threshold + x_max
  const float* scale;        // [f_count] 16 / step16
  const float* bias;         // [f_count] 1 - 0.5 / step16
  int division_wide_ok;
  const double* scale64;     // [f_count] 16 / step16
  const double* bias64;      // [f_count] 1 - 0.5 / step16
};

// The A operand of a GEMM, read in place (no im2col): row i starts at
//   base + (i / row_len) * row_stride + (i % row_len) * lda          (bytes)
// and is `nseg` segments `seg_stride` bytes apart, each of `kgroups_per_seg` k groups. For a
// convolution a row is an output pixel and a segment one kernel row (ky) of its patch, which is
// contiguous in the padded input rows (conv_op.cc); plain matrices have nseg = 1. Kernels may
// read up to 3 bytes past a segment's last group (the weights there are zero).
struct AView {
  const void* base;
  int64_t lda, row_len, row_stride, nseg, seg_stride, kgroups_per_seg;
  // gemm_u8_groups only: the k groups to accumulate (increasing), kgroups_per_seg of them.
  const int32_t* kgroup_index = nullptr;
};

// Depthwise convolution of one output row band, from its padded input rows (block.h PadBand:
// rows of `width` pixels, slack after). Weights are pre-widened to the sum type, (kh, kw, cw)
// with cw = c rounded up to 32 and zeros beyond c. Output rows of `ldo` elements (int16 or
// int32), channels [c, ldo) zeroed.
struct DepthwiseArgs {
  const uint8_t* band;
  int64_t width, c, cw, kh, kw, sh, sw, ow, rows;
  const void* weights;
  void* out;
  int64_t ldo;
};

enum PoolKind { kPoolNone = 0, kPoolMax = 1, kPoolGlobalSum = 2 };

// Pooling and fire (or int32 store) of a tile of potentials: conv output rows
// [row0, row0 + rows), each of `ow` pixels with channel stride `ldc`.
struct EpilogueArgs {
  const int32_t* tile;
  int64_t ldc;
  int64_t row0, rows, oh, ow, f;
  int pool;
  int64_t pool_h, pool_w, pool_sh, pool_sw, pool_top, pool_left, pow;  // max pooling
  int64_t out_row0, out_rows;  // block output rows to write (pool none / max)
  int saturate20;              // FullyConnected: clip to [-2**19, 2**19 - 1] first
  const FireTable* fire;       // null: store int32 potentials
  void* out;                   // the image's output, (rows, pow or ow, f), uint8 or int32
  int64_t* gsum;               // global sum accumulator, [f], saturated to 20 bits
  int32_t* scratch;            // >= (ow + 1) * f int32
};

// Depthwise convolution of a band into the uint8 A operand of the pointwise GEMM (direct
// engine): each int16 sum d is stored as clamp(d, -128, 127) + 128, and the rare sums outside
// [-128, 127] are listed as (pixel, channel, d - clamp(d)) so that the caller adds
// excess * pointwise[channel, :] to the potentials; the caller subtracts 128 * sum_c pw[c, f].
// Same band layout and widened int16 weights as DepthwiseArgs; channels [c, ldo) are set to 0.
struct DwOutlier {
  int32_t pixel;
  int32_t channel;
  int32_t excess;
};
struct DepthwiseU8Args {
  const uint8_t* band;
  int64_t width, c, cw, kh, kw, sh, sw, ow, rows;
  const int16_t* weights;
  uint8_t* out;
  int64_t ldo;
  DwOutlier* outliers;  // room for rows * ow * c entries
};

// Pooling and fire (or int32 store) of a tile of potentials for output channels
// [f0, f0 + nch) of a block, into an output with explicit strides (direct engine): pixel
// (y, x), channel j goes to out + y * out_row + x * out_px + j (elements of uint8 or int32).
// The tile holds conv output rows [row0, row0 + rows) of `ow` pixels, channel stride ldc.
struct PoolFireArgs {
  const int32_t* tile;
  int64_t ldc;
  int64_t row0, rows, oh, ow, nch, f0;
  int pool;
  int64_t pool_h, pool_w, pool_sh, pool_sw, pool_top, pool_left, pow;  // max pooling
  int64_t out_row0, out_rows;  // block output rows to write (pool none / max)
  int saturate20;              // FullyConnected: clip to [-2**19, 2**19 - 1] first
  const FireTable* fire;       // null: store int32 potentials
  void* out;
  int64_t out_row, out_px;
  int64_t* gsum;               // global sum accumulator, [nch], saturated to 20 bits
  int32_t* scratch;            // >= (pow or ow) * nch int32
};

// Winograd F(2x2, 3x3) for stride-1 3x3 convolutions (direct engine, exact integers):
//   4 Y = A^T [sum_c U'_c (.) V_c] A,  U' = (2G) g (2G)^T (int8),  V = B^T d B,
// with 4x4 input patches d at even positions of a padded band. The input transform writes the
// 16 positions' uint8 GEMM operands V + offset (0 <= V + offset <= 255, so uint8 wrap-around is
// exact), position-major: out + (p * tiles + t) * ldo; channels [c, ldo) are set to 0.
struct WinogradInputArgs {
  const uint8_t* band;  // rows of `width` pixels of c bytes, the first row of tile row 0
  int64_t width, c, tiles_h, tiles_w;
  uint8_t offset;
  uint8_t* out;
  int64_t ldo;
};
// The 16 GEMMs (one per position: tiles x C operands times C x F transformed weights) and the
// output transform, a block of tiles at a time so that the 16 results stay in L1: writes the
// potentials of conv rows [row0, row0 + rows) (tile row 0 starts at conv row first_row, even),
// ow pixels each, channels [0, b[0].f), into tile (channel stride ldc).
struct WinogradGemmArgs {
  const uint8_t* v;  // the input transform's output, ldv bytes per operand row
  int64_t ldv, tiles_h, tiles_w;
  const PackedB* b;              // [16], channels of this call
  const int32_t* const* bias;    // [16], the GEMM start values of those channels
  int64_t first_row, row0, rows, ow;
  int32_t* tile;
  int64_t ldc;
  int32_t* scratch;  // >= (16 * 8 + 4) * b[0].nr int32
};

// The direct engine's GEMM with the fire fused in (4-bit division form of FireTable, no
// pooling): as gemm_u8_rows, then each potential is corrected by the outliers of its row (a
// separable layer's depthwise sums outside int8, see DepthwiseU8Args) and fired into
// out[i] + j (uint8), without an int32 tile.
struct GemmFireArgs {
  const char* const* rows;
  AView view;
  int64_t m;
  PackedB b;
  const int32_t* bias;        // may be null
  const FireTable* fire;
  int64_t f0;                 // fire table channel of b's column 0
  uint8_t* const* out;        // [m], each at output channel f0
  const DwOutlier* outliers;  // sorted by pixel (= GEMM row)
  int64_t outlier_count;
  const int8_t* pw;           // pointwise weights at column f0 (row stride pw_stride)
  int64_t pw_stride;
};

// The direct engine's GEMM with max pooling fused in (no int32 tile of conv potentials): the
// GEMM rows come window after window, window w being rows [window_start[w],
// window_start[w + 1]) (at least one); c[w * ldc + 0:fp] = the max over its rows of bias +
// A_i * B (+ the outliers' corrections, as GemmFireArgs; outlier pixels are rows of `rows`),
// neither saturated nor fired. Operands uint8 with u8_format weights, or int16 (u8 = 0) with
// s16_format weights. With `fire` (the 4-bit division form of FireTable, in float32 when
// division_ok, else float64; every window at most 6 rows), each window's max is saturated to
// 20 bits and fired into out[w] (uint8, at channel f0 of the table) instead.
struct GemmPoolArgs {
  const char* const* rows;
  AView view;
  const int32_t* window_start;  // [windows + 1]
  int64_t windows;
  PackedB b;
  int u8;
  const int32_t* bias;  // may be null
  int32_t* c;
  int64_t ldc;
  const DwOutlier* outliers;  // sorted by row
  int64_t outlier_count;
  const int8_t* pw;  // pointwise weights at column 0 of b (row stride pw_stride)
  int64_t pw_stride;
  const FireTable* fire;  // null: store to c
  int64_t f0;
  uint8_t* const* out;  // [windows]
};

struct IsaKernels {
  const char* name;
  PackingFormat u8_format;   // for gemm_u8
  PackingFormat s16_format;  // for gemm_s16
  // C[m, 0:fp] = A * B, exact int32. A: uint8 levels (gemm_u8) or int16 sums (gemm_s16).
  void (*gemm_u8)(const AView& a, int64_t m, const PackedB& b, int32_t* c, int64_t ldc);
  void (*gemm_s16)(const AView& a, int64_t m, const PackedB& b, int32_t* c, int64_t ldc);
  // C[m, 0:f] = A[m, 0:k] * B, B unpacked int8 (k, f) row-major; the rare wide-sum path.
  void (*gemm_s32)(const int32_t* a, int64_t lda, int64_t m, int64_t k, const int8_t* b,
                   int64_t f, int32_t* c, int64_t ldc);
  void (*depthwise_s16)(const DepthwiseArgs& args);
  void (*depthwise_s32)(const DepthwiseArgs& args);
  void (*epilogue)(const EpilogueArgs& args);
  // Direct engine. C[i, 0:fp] = bias[0:fp] + A_i * B for rows i < m whose first byte is
  // rows[i] (segments as in `view`, whose base / lda / row_len / row_stride are ignored);
  // bias may be null (zeros). Exact int32 with wrap-around, as gemm_u8.
  void (*gemm_u8_rows)(const char* const* rows, const AView& view, int64_t m, const PackedB& b,
                       const int32_t* bias, int32_t* c, int64_t ldc);
  // Event-driven dense layers (direct engine): as gemm_u8_rows without bias, over only the k
  // groups view.kgroup_index lists (those where some row has a nonzero input; the others add
  // 0). Null where the kernels have no such path.
  void (*gemm_u8_groups)(const char* const* rows, const AView& view, int64_t m,
                         const PackedB& b, int32_t* c, int64_t ldc);
  // Null where the kernels do not fuse the fire.
  void (*gemm_u8_fire)(const GemmFireArgs& args);
  // Null where the kernels do not fuse the max pooling.
  void (*gemm_pool)(const GemmPoolArgs& args);
  // Returns the number of outliers written.
  int64_t (*depthwise_u8)(const DepthwiseU8Args& args);
  // Null where the direct engine convolves directly instead.
  void (*winograd_input)(const WinogradInputArgs& args);
  void (*winograd_gemm)(const WinogradGemmArgs& args);
  void (*pool_fire)(const PoolFireArgs& args);
};

// Defined in the isa_*.cc files; null when the instruction set is not compiled in.
const IsaKernels* IsaGeneric();
const IsaKernels* IsaAvx2();
const IsaKernels* IsaAvx512Bw();
const IsaKernels* IsaAvx512Vnni();

}  // namespace akida_ops

#endif  // CNN2SNN_TFMOT_CUSTOM_OPS_ISA_API_H_
