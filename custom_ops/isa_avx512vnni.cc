// AVX-512 VNNI kernels: vpdpbusd multiplies 4 uint8 levels by 4 int8 weights and adds them to
// an int32 lane in one instruction (64 exact multiply-adds per instruction), vpdpwssd does the
// same for int16 pairs. Compiled for that target only; chosen at run time (isa_select.cc).
#include <cstdint>
#include <cstring>

#include "isa_api.h"

#if defined(__x86_64__) && (defined(__GNUC__) || defined(__clang__))
#if defined(__clang__)
#pragma clang attribute push(__attribute__((target("avx512f,avx512bw,avx512vnni"))), \
                             apply_to = function)
#else
#pragma GCC push_options
// GCC 12 reports its own _mm512_undefined_epi32() as uninitialised (GCC bug 105593).
#pragma GCC diagnostic ignored "-Wmaybe-uninitialized"
#pragma GCC target("avx512f,avx512bw,avx512vnni")
#endif
#include <immintrin.h>

namespace akida_ops {
namespace {

#include "plain_kernels.inc"
#include "avx512_fire.inc"
#include "avx512_depthwise.inc"
#include "avx512_winograd.inc"

struct Vnni {
  using V = __m512i;
  static constexpr int kLanes = 16, kMr = 6, kMaxNv = 4, kGroupU8 = 4;
  static V Zero() { return _mm512_setzero_si512(); }
  static V Load(const void* p) { return _mm512_loadu_si512(p); }
  static void Store(int32_t* p, V v) { _mm512_storeu_si512(p, v); }
  static V BcastU8(const uint8_t* a) {
    int32_t v;
    std::memcpy(&v, a, 4);
    return _mm512_set1_epi32(v);
  }
  static V MacU8(V acc, V a, V b) { return _mm512_dpbusd_epi32(acc, a, b); }
  static V BcastS16(const int16_t* a) {
    int32_t v;
    std::memcpy(&v, a, 4);
    return _mm512_set1_epi32(v);
  }
  static V MacS16(V acc, V a, V b) { return _mm512_dpwssd_epi32(acc, a, b); }
  static constexpr auto kDepthwiseU8 = &DepthwiseU8Avx512;
  static constexpr auto kWinogradInput = &WinogradInputAvx512;
  static constexpr auto kWinogradOutTile = &WinogradOutTile;
  static constexpr bool kFusedFire = true;
  using FireVec = FireVec512;
  static FireVec LoadFire(const FireTable& t, int64_t c, int64_t n) { return LoadFire512(t, c, n); }
  static void FireStore(V v, const FireVec& p, uint8_t* out) { FireStore512(v, p, out); }
};

#include "gemm_simd.inc"

}  // namespace

const IsaKernels* IsaAvx512Vnni() {
  static const IsaKernels kernels = MakeSimdKernels<Vnni>("avx512vnni");
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
const IsaKernels* IsaAvx512Vnni() { return nullptr; }
}  // namespace akida_ops

#endif
