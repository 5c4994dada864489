// The fire rule of docs/akida-v1.md section 5, in two exact integer-faithful forms.
//
//   step16 = floor(act_step * 16) * 2**(4 - act_bits)            (an integer s >= 1)
//   level  = clip(ceil(16 * (P - threshold) / s), 0, L),  L = 2**act_bits - 1
//
// Ladder. level >= j  <=>  16 * (P - threshold) > (j - 1) * s
//                     <=>  P >= floor((16 * threshold + (j - 1) * s) / 16) + 1 =: U_j,
// so the level is the number of rungs U_1 <= ... <= U_L that P reaches: compares only, exact
// for every int32 P (rungs beyond int32 lower max_level instead). Cheap for 1 or 3 rungs.
//
// Division (4-bit: 15 rungs would cost 15 compares). With x = P - threshold clamped to
// [0, x_max], x_max = ceil(L * s / 16) + 1 (the clamp changes no clipped level), and n = 16 x:
//   ceil(n / s) = floor((n - 1/2) / s) + 1
// (n = k s + r: r = 0 gives k - 1/(2s) -> k; 1 <= r < s gives k + (r - 1/2)/s -> k + 1), and the
// true value (n - 1/2) / s + 1 lies at least 1/(2s) away from every integer. In float32,
// q = x * fl(16/s) + fl(1 - 1/(2s)) (fused or not) is within 3 * 48 * 2**-24 < 2**-16.4 of it,
// since q <= L + 33 < 48; so trunc(q) is exact whenever 1/(2s) > 2**-16.4, i.e. s <= 2**15,
// which division_ok requires (with threshold + x_max inside int32). x <= 2**24, exact in float.
//
// Wide division (4-bit, larger steps, e.g. input layers): the same form in float64,
// q = x * fl64(16/s) + fl64(1 - 1/(2s)), is within 3 * 48 * 2**-53 < 2**-45.8 of the true value,
// so trunc(q) is exact whenever s < 2**44.8, which every step satisfies (s <= 2**43 after the
// clamp in fire.cc); it needs threshold + x_max inside int32 (x is then exact in int32).
#ifndef CNN2SNN_TFMOT_CUSTOM_OPS_FIRE_H_
#define CNN2SNN_TFMOT_CUSTOM_OPS_FIRE_H_

#include <cstdint>
#include <vector>

#include "absl/status/status.h"
#include "isa_api.h"
#include "tensorflow/core/framework/tensor.h"

namespace akida_ops {

class FireLadder {
 public:
  // threshold: int32 (F,), act_step: float32 (F,), each finite and >= 1/16; act_bits 1, 2, 4.
  absl::Status Build(const tensorflow::Tensor& threshold, const tensorflow::Tensor& act_step,
                     int act_bits);
  // The same from f values each (the direct engine, which owns copies of its arrays).
  absl::Status Build(const int32_t* threshold, const float* act_step, int64_t f, int act_bits);

  const FireTable& table() const { return table_; }

  // The level of one potential of channel f (used after global pooling).
  uint8_t Level(int64_t f, int64_t potential) const;

 private:
  std::vector<int32_t> ladder_, max_level_, low_, high_;
  std::vector<float> scale_, bias_;
  std::vector<double> scale64_, bias64_;
  FireTable table_{};
};

// Validates act_bits (1, 2 or 4).
absl::Status CheckActBits(int64_t act_bits);

}  // namespace akida_ops

#endif  // CNN2SNN_TFMOT_CUSTOM_OPS_FIRE_H_
