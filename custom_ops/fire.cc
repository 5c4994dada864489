#include "fire.h"

#include <algorithm>
#include <cmath>
#include <limits>

#include "tensorflow/core/platform/errors.h"

namespace akida_ops {
namespace {

constexpr int64_t kInt32Min = std::numeric_limits<int32_t>::min();
constexpr int64_t kInt32Max = std::numeric_limits<int32_t>::max();
constexpr int64_t kDivisionMaxStep = int64_t{1} << 15;      // see fire.h
constexpr int64_t kWideDivisionMaxStep = int64_t{1} << 44;  // see fire.h

int64_t FloorDiv16(int64_t x) { return x >= 0 ? x / 16 : -((-x + 15) / 16); }

}  // namespace

absl::Status CheckActBits(int64_t act_bits) {
  if (act_bits != 1 && act_bits != 2 && act_bits != 4) {
    return tensorflow::errors::InvalidArgument("act_bits must be 1, 2 or 4, got ", act_bits);
  }
  return absl::OkStatus();
}

absl::Status FireLadder::Build(const tensorflow::Tensor& threshold,
                               const tensorflow::Tensor& act_step, int act_bits) {
  return Build(threshold.flat<int32_t>().data(), act_step.flat<float>().data(),
               threshold.NumElements(), act_bits);
}

absl::Status FireLadder::Build(const int32_t* threshold, const float* act_step, int64_t f,
                               int act_bits) {
  TF_RETURN_IF_ERROR(CheckActBits(act_bits));
  const int levels = (1 << act_bits) - 1;
  auto th = [threshold](int64_t i) { return threshold[i]; };
  auto step = [act_step](int64_t i) { return act_step[i]; };
  ladder_.assign(static_cast<size_t>(levels * f), 0);
  max_level_.assign(static_cast<size_t>(f), 0);
  low_.assign(static_cast<size_t>(f), 0);
  high_.assign(static_cast<size_t>(f), 0);
  scale_.assign(static_cast<size_t>(f), 0.0f);
  bias_.assign(static_cast<size_t>(f), 0.0f);
  scale64_.assign(static_cast<size_t>(f), 0.0);
  bias64_.assign(static_cast<size_t>(f), 0.0);
  bool division_ok = true, wide_ok = true;
  for (int64_t i = 0; i < f; ++i) {
    const double step_x16 = static_cast<double>(step(i)) * 16.0;  // exact: a power-of-two scale
    if (!std::isfinite(step_x16) || step_x16 < 1.0) {
      return tensorflow::errors::InvalidArgument(
          "act_step[", i, "] = ", step(i),
          " is not representable by Akida (it must be finite and >= 1/16)");
    }
    // A step above 2**40 / 16 lets no int32 potential pass the second rung: clamping it keeps
    // the int64 arithmetic below exact and changes no level.
    const int64_t step16 = static_cast<int64_t>(std::floor(std::min(step_x16, 0x1p40)))
                           << (4 - act_bits);
    int max_level = 0;
    for (int j = 1; j <= levels; ++j) {
      const int64_t rung = FloorDiv16(16 * int64_t{th(i)} + (j - 1) * step16) + 1;
      if (rung <= kInt32Max) max_level = j;
      ladder_[(j - 1) * f + i] = static_cast<int32_t>(std::clamp(rung, kInt32Min, kInt32Max));
    }
    max_level_[i] = max_level;
    const int64_t x_max = (levels * step16 + 15) / 16 + 1;
    const int64_t high = int64_t{th(i)} + x_max;
    division_ok = division_ok && step16 <= kDivisionMaxStep && high <= kInt32Max;
    wide_ok = wide_ok && step16 <= kWideDivisionMaxStep && high <= kInt32Max;
    low_[i] = th(i);
    high_[i] = static_cast<int32_t>(std::min(high, kInt32Max));
    scale_[i] = static_cast<float>(16.0 / static_cast<double>(step16));
    bias_[i] = static_cast<float>(1.0 - 0.5 / static_cast<double>(step16));
    scale64_[i] = 16.0 / static_cast<double>(step16);
    bias64_[i] = 1.0 - 0.5 / static_cast<double>(step16);
  }
  table_ = FireTable{ladder_.data(), max_level_.data(), levels, f, division_ok ? 1 : 0,
                     low_.data(), high_.data(), scale_.data(), bias_.data(), wide_ok ? 1 : 0,
                     scale64_.data(), bias64_.data()};
  return absl::OkStatus();
}

uint8_t FireLadder::Level(int64_t f, int64_t potential) const {
  int level = 0;
  for (int j = 0; j < table_.levels; ++j) {
    if (potential >= ladder_[j * table_.f_count + f]) ++level;
  }
  return static_cast<uint8_t>(std::min<int>(level, max_level_[f]));
}

}  // namespace akida_ops
