#include "isa_select.h"

#include <cstdlib>

#include "absl/strings/str_join.h"
#include "tensorflow/core/platform/errors.h"

namespace akida_ops {
namespace {

struct Candidate {
  const char* name;
  bool (*supported)();
  const IsaKernels* (*kernels)();
};

#if defined(__x86_64__) && (defined(__GNUC__) || defined(__clang__))
// __builtin_cpu_supports also checks that the OS saves the wide registers (XCR0).
bool HasAvx2() { return __builtin_cpu_supports("avx2"); }
bool HasAvx512Bw() {
  return __builtin_cpu_supports("avx512f") && __builtin_cpu_supports("avx512bw");
}
bool HasAvx512Vnni() { return HasAvx512Bw() && __builtin_cpu_supports("avx512vnni"); }
#else
bool HasAvx2() { return false; }
bool HasAvx512Bw() { return false; }
bool HasAvx512Vnni() { return false; }
#endif
bool Always() { return true; }

// Fastest first.
const Candidate kCandidates[] = {
    {"avx512vnni", &HasAvx512Vnni, &IsaAvx512Vnni},
    {"avx512bw", &HasAvx512Bw, &IsaAvx512Bw},
    {"avx2", &HasAvx2, &IsaAvx2},
    {"generic", &Always, &IsaGeneric},
};

}  // namespace

std::vector<std::string> SupportedIsas() {
  std::vector<std::string> names;
  for (const Candidate& c : kCandidates) {
    if (c.supported()) names.push_back(c.name);
  }
  return names;
}

absl::Status SelectIsa(const IsaKernels** kernels) {
  const char* env = std::getenv(kIsaEnvVar);
  const std::string wanted = env == nullptr ? "" : env;
  const bool automatic = wanted.empty() || wanted == "auto";
  for (const Candidate& c : kCandidates) {
    if (automatic ? c.supported() : wanted == c.name) {
      if (!c.supported()) {
        return tensorflow::errors::InvalidArgument(
            kIsaEnvVar, "=", wanted, " is not supported by this CPU; supported: ",
            absl::StrJoin(SupportedIsas(), ", "));
      }
      *kernels = c.kernels();
      return absl::OkStatus();
    }
  }
  return tensorflow::errors::InvalidArgument(
      kIsaEnvVar, "=", wanted,
      " is not a kernel set; use auto, avx512vnni, avx512bw, avx2 or generic");
}

}  // namespace akida_ops
