// Per-kernel cache of weights prepared for the kernels (packed, widened, bounded).
//
// An op's weights are usually graph constants: preparing them once instead of on every call
// matters at batch 1 (packing 3x3x512x512 weights costs more than convolving a 7x7 image). The
// key is an exact copy of the raw weight bytes, their shapes and the kernel set: a changed
// tensor (a variable assigned in place, another constant at the same address) is compared, not
// trusted, and prepared again. Compute() may run concurrently on one kernel: entries are
// immutable and shared.
#ifndef CNN2SNN_TFMOT_CUSTOM_OPS_WEIGHT_CACHE_H_
#define CNN2SNN_TFMOT_CUSTOM_OPS_WEIGHT_CACHE_H_

#include <cstring>
#include <functional>
#include <initializer_list>
#include <memory>
#include <mutex>
#include <string>
#include <vector>

#include "tensorflow/core/framework/tensor.h"
#include "tensorflow/core/framework/tensor_shape.h"

namespace akida_ops {

template <typename Entry>
class WeightCache {
 public:
  // The entry for these tensors and kernel set, built with `build` when it is not cached.
  std::shared_ptr<const Entry> Get(std::initializer_list<const tensorflow::Tensor*> tensors,
                                   const std::string& kernel_set,
                                   const std::function<std::shared_ptr<Entry>()>& build) {
    {
      std::lock_guard<std::mutex> lock(mu_);
      if (entry_ != nullptr && Matches(tensors, kernel_set)) return entry_;
    }
    std::shared_ptr<const Entry> entry = build();
    std::lock_guard<std::mutex> lock(mu_);
    kernel_set_ = kernel_set;
    shapes_.clear();
    raw_.clear();
    for (const tensorflow::Tensor* t : tensors) {
      shapes_.push_back(t->shape());
      const auto bytes = t->tensor_data();
      raw_.insert(raw_.end(), bytes.data(), bytes.data() + bytes.size());
    }
    entry_ = entry;
    return entry;
  }

 private:
  bool Matches(std::initializer_list<const tensorflow::Tensor*> tensors,
               const std::string& kernel_set) const {
    if (kernel_set != kernel_set_ || tensors.size() != shapes_.size()) return false;
    size_t offset = 0, i = 0;
    for (const tensorflow::Tensor* t : tensors) {
      const auto bytes = t->tensor_data();
      if (t->shape() != shapes_[i++] || offset + bytes.size() > raw_.size() ||
          std::memcmp(raw_.data() + offset, bytes.data(), bytes.size()) != 0) {
        return false;
      }
      offset += bytes.size();
    }
    return offset == raw_.size();
  }

  std::mutex mu_;
  std::string kernel_set_;
  std::vector<tensorflow::TensorShape> shapes_;
  std::vector<char> raw_;
  std::shared_ptr<const Entry> entry_;
};

}  // namespace akida_ops

#endif  // CNN2SNN_TFMOT_CUSTOM_OPS_WEIGHT_CACHE_H_
