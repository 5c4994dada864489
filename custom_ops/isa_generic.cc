// Portable kernels, compiled for the baseline CPU of the build (any architecture TensorFlow
// runs on): plain loops that the compiler vectorises with whatever the baseline offers.
// Same weight layout as the x86 pair kernels: int16 weights, pairs of k side by side.
#include <cstdint>
#include <cstring>

#include "isa_api.h"

namespace akida_ops {
namespace {

#include "plain_kernels.inc"

void FireRangeImpl(const int32_t* p, int64_t ldp, int64_t npix, const FireTable& t, int64_t f0,
                   int64_t nch, uint8_t* out, int64_t out_px) {
  FireRangePlain(p, ldp, npix, t, f0, nch, out, out_px);
}

constexpr int kNr = 16;

// Weights are int16 pairs (the x86 pair layout); A elements are uint8 or int16.
template <typename A>
void GemmPairs(const AView& a, int64_t m, const PackedB& b, int32_t* c, int64_t ldc) {
  const int16_t* base = static_cast<const int16_t*>(b.data);
  const char* a_base = static_cast<const char*>(a.base);
  for (int64_t p0 = 0; p0 < b.fp; p0 += b.nr) {
    const int64_t width = Min64(b.nr, b.fp - p0);
    const int16_t* panel = base + p0 * b.kgroups * 2;
    for (int64_t i = 0; i < m; ++i) {
      const char* row = a_base + (i / a.row_len) * a.row_stride + (i % a.row_len) * a.lda;
      // Unsigned: wraps modulo 2**32 like the SIMD kernels, without undefined behaviour.
      uint32_t acc[kNr] = {0};
      for (int64_t seg = 0; seg < a.nseg; ++seg) {
        const A* as = reinterpret_cast<const A*>(row + seg * a.seg_stride);
        for (int64_t kg = 0; kg < a.kgroups_per_seg; ++kg) {
          const uint32_t a0 = static_cast<uint32_t>(int32_t{as[2 * kg]});
          const uint32_t a1 = static_cast<uint32_t>(int32_t{as[2 * kg + 1]});
          const int16_t* bk = panel + (seg * a.kgroups_per_seg + kg) * width * 2;
          for (int64_t j = 0; j < width; ++j) {
            acc[j] += a0 * static_cast<uint32_t>(int32_t{bk[2 * j]}) +
                      a1 * static_cast<uint32_t>(int32_t{bk[2 * j + 1]});
          }
        }
      }
      std::memcpy(c + i * ldc + p0, acc, width * sizeof(int32_t));
    }
  }
}

// The direct engine's GEMM (uint8 A through row pointers), as GemmPairs.
void GemmU8Rows(const char* const* rows, const AView& a, int64_t m, const PackedB& b,
                const int32_t* bias, int32_t* c, int64_t ldc) {
  const int16_t* base = static_cast<const int16_t*>(b.data);
  for (int64_t p0 = 0; p0 < b.fp; p0 += b.nr) {
    const int64_t width = Min64(b.nr, b.fp - p0);
    const int16_t* panel = base + p0 * b.kgroups * 2;
    for (int64_t i = 0; i < m; ++i) {
      uint32_t acc[kNr];
      for (int64_t j = 0; j < width; ++j) {
        acc[j] = bias != nullptr ? static_cast<uint32_t>(bias[p0 + j]) : 0u;
      }
      for (int64_t seg = 0; seg < a.nseg; ++seg) {
        const uint8_t* as = reinterpret_cast<const uint8_t*>(rows[i] + seg * a.seg_stride);
        for (int64_t kg = 0; kg < a.kgroups_per_seg; ++kg) {
          const uint32_t a0 = as[2 * kg], a1 = as[2 * kg + 1];
          const int16_t* bk = panel + (seg * a.kgroups_per_seg + kg) * width * 2;
          for (int64_t j = 0; j < width; ++j) {
            acc[j] += a0 * static_cast<uint32_t>(int32_t{bk[2 * j]}) +
                      a1 * static_cast<uint32_t>(int32_t{bk[2 * j + 1]});
          }
        }
      }
      std::memcpy(c + i * ldc + p0, acc, width * sizeof(int32_t));
    }
  }
}

void GemmU8(const AView& a, int64_t m, const PackedB& b, int32_t* c, int64_t ldc) {
  GemmPairs<uint8_t>(a, m, b, c, ldc);
}

void GemmS16(const AView& a, int64_t m, const PackedB& b, int32_t* c, int64_t ldc) {
  GemmPairs<int16_t>(a, m, b, c, ldc);
}

IsaKernels MakeGenericKernels() {
  IsaKernels k;
  k.name = "generic";
  k.u8_format = PackingFormat{2, 2, kNr, 4};
  k.s16_format = PackingFormat{2, 2, kNr, 4};
  k.gemm_u8 = &GemmU8;
  k.gemm_s16 = &GemmS16;
  k.gemm_s32 = &GemmS32;
  k.depthwise_s16 = &DepthwiseS16;
  k.depthwise_s32 = &DepthwiseS32;
  k.epilogue = &Epilogue;
  k.gemm_u8_rows = &GemmU8Rows;
  k.gemm_u8_groups = nullptr;
  k.gemm_u8_fire = nullptr;
  k.gemm_pool = nullptr;
  k.depthwise_u8 = &DepthwiseU8;
  k.pool_fire = &PoolFire;
  k.winograd_input = nullptr;  // the direct engine convolves directly
  k.winograd_gemm = nullptr;
  return k;
}

}  // namespace

const IsaKernels* IsaGeneric() {
  static const IsaKernels kernels = MakeGenericKernels();
  return &kernels;
}

}  // namespace akida_ops
