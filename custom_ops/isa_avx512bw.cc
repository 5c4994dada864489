// AVX-512BW kernels for CPUs without VNNI (e.g. Skylake-SP): vpmaddwd multiplies int16 pairs
// (uint8 levels widened) by int16 weights and adds each pair into an int32 lane; exact.
#include <cstdint>
#include <cstring>

#include "isa_api.h"

#if defined(__x86_64__) && (defined(__GNUC__) || defined(__clang__))
#if defined(__clang__)
#pragma clang attribute push(__attribute__((target("avx512f,avx512bw"))), apply_to = function)
#else
#pragma GCC push_options
// GCC 12 reports its own _mm512_undefined_epi32() as uninitialised (GCC bug 105593).
#pragma GCC diagnostic ignored "-Wmaybe-uninitialized"
#pragma GCC target("avx512f,avx512bw")
#endif
#include <immintrin.h>

namespace akida_ops {
namespace {

#include "plain_kernels.inc"
#include "avx512_fire.inc"
#include "avx512_depthwise.inc"
#include "avx512_winograd.inc"

#include "avx512_common.inc"

struct Bw : Avx512Common {
  static constexpr int kGroupU8 = 2;
  static V BcastU8(const uint8_t* a) {
    return _mm512_set1_epi32(static_cast<int32_t>(a[0] | (uint32_t{a[1]} << 16)));
  }
  static V MacU8(V acc, V a, V b) { return _mm512_add_epi32(acc, _mm512_madd_epi16(a, b)); }
  static V MacS16(V acc, V a, V b) { return _mm512_add_epi32(acc, _mm512_madd_epi16(a, b)); }
};

#include "gemm_simd.inc"

}  // namespace

const IsaKernels* IsaAvx512Bw() {
  static const IsaKernels kernels = MakeSimdKernels<Bw>("avx512bw");
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
const IsaKernels* IsaAvx512Bw() { return nullptr; }
}  // namespace akida_ops

#endif
