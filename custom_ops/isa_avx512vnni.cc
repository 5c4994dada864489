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

#include "avx512_common.inc"

struct Vnni : Avx512Common {
  static constexpr int kGroupU8 = 4;
  static V BcastU8(const uint8_t* a) {
    int32_t v;
    std::memcpy(&v, a, 4);
    return _mm512_set1_epi32(v);
  }
  static V MacU8(V acc, V a, V b) { return _mm512_dpbusd_epi32(acc, a, b); }
  static V MacS16(V acc, V a, V b) { return _mm512_dpwssd_epi32(acc, a, b); }
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
