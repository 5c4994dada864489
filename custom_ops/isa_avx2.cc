// AVX2 kernels (most x86-64 CPUs since 2013): 256-bit vpmaddwd on int16 pairs, exact.
#include <cstdint>
#include <cstring>

#include "isa_api.h"

#if defined(__x86_64__) && (defined(__GNUC__) || defined(__clang__))
#if defined(__clang__)
#pragma clang attribute push(__attribute__((target("avx2"))), apply_to = function)
#else
#pragma GCC push_options
#pragma GCC target("avx2")
#endif
#include <immintrin.h>

namespace akida_ops {
namespace {

#include "plain_kernels.inc"

void FireRangeImpl(const int32_t* p, int64_t ldp, int64_t npix, const FireTable& t, int64_t f0,
                   int64_t nch, uint8_t* out, int64_t out_px) {
  FireRangePlain(p, ldp, npix, t, f0, nch, out, out_px);
}

struct Avx2 {
  using V = __m256i;
  // 16 ymm registers: 6 x 2 accumulators + 2 weight vectors + 1 broadcast.
  static constexpr int kLanes = 8, kMr = 6, kMaxNv = 2, kGroupU8 = 2;
  static V Zero() { return _mm256_setzero_si256(); }
  static V Load(const void* p) { return _mm256_loadu_si256(static_cast<const __m256i*>(p)); }
  static void Store(int32_t* p, V v) { _mm256_storeu_si256(reinterpret_cast<__m256i*>(p), v); }
  static V BcastU8(const uint8_t* a) {
    return _mm256_set1_epi32(static_cast<int32_t>(a[0] | (uint32_t{a[1]} << 16)));
  }
  static V MacU8(V acc, V a, V b) { return _mm256_add_epi32(acc, _mm256_madd_epi16(a, b)); }
  static V BcastS16(const int16_t* a) {
    int32_t v;
    std::memcpy(&v, a, 4);
    return _mm256_set1_epi32(v);
  }
  static V MacS16(V acc, V a, V b) { return _mm256_add_epi32(acc, _mm256_madd_epi16(a, b)); }
  static constexpr auto kDepthwiseU8 = &DepthwiseU8;
  static constexpr void (*kWinogradInput)(const WinogradInputArgs&) = nullptr;
  static constexpr bool kFusedFire = false;
};

#include "gemm_simd.inc"

}  // namespace

const IsaKernels* IsaAvx2() {
  static const IsaKernels kernels = MakeSimdKernels<Avx2>("avx2");
  return &kernels;
}

}  // namespace akida_ops

#if defined(__clang__)
#pragma clang attribute pop
#else
#pragma GCC pop_options
#endif

#else  // not x86-64

namespace akida_ops {
const IsaKernels* IsaAvx2() { return nullptr; }
}  // namespace akida_ops

#endif
