// Run-time choice of the kernel table (isa_api.h) for this CPU.
#ifndef CNN2SNN_TFMOT_CUSTOM_OPS_ISA_SELECT_H_
#define CNN2SNN_TFMOT_CUSTOM_OPS_ISA_SELECT_H_

#include <string>
#include <vector>

#include "absl/status/status.h"
#include "isa_api.h"

namespace akida_ops {

// Environment variable that forces a kernel table ("generic", "avx2", "avx512bw",
// "avx512vnni"); unset, empty or "auto" picks the fastest one the CPU supports. Read on every
// call so that tests can compare the tables within one process.
inline constexpr char kIsaEnvVar[] = "CNN2SNN_TFMOT_OPS_ISA";

// The tables this CPU can run, fastest first.
std::vector<std::string> SupportedIsas();

// Sets *kernels to the table to use now; InvalidArgument when the variable names an unknown
// table or one this CPU cannot run.
absl::Status SelectIsa(const IsaKernels** kernels);

}  // namespace akida_ops

#endif  // CNN2SNN_TFMOT_CUSTOM_OPS_ISA_SELECT_H_
