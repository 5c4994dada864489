// Akida 1.0 edge learning (learning_api.h): the AkidaUnsupervised rule of
// cnn2snn_tfmot/chip/learning.py, sample after sample, on plain buffers.
//
// Per sample: the active inputs are listed once; the potentials add the weight rows of the active
// inputs only (spikes are sparse: 10-20% of the inputs in BrainChip's recipe), in uint8 lanes
// for 0/1 weights; the winner's connections are kept as a sorted list of inputs per neuron
// (built from the weight column the first time the neuron wins in a call), so that a learning
// step costs O(num_weights + active inputs), not a strided walk down a weight column.
#include "learning_api.h"

#include <algorithm>
#include <cstdio>
#include <cstring>
#include <limits>
#include <new>
#include <vector>

#if defined(__BYTE_ORDER__) && __BYTE_ORDER__ != __ORDER_LITTLE_ENDIAN__
#error "ActiveInputs reads spike bytes as little-endian words"
#endif

namespace {

void SetError(char* error, int64_t size, const char* message) {
  if (error != nullptr && size > 0) std::snprintf(error, static_cast<size_t>(size), "%s", message);
}

// The active inputs of one spike vector, in input order. Eight bytes at a time become eight bits
// (one multiplication gathers them, bit j for byte j of a little-endian word), then one step per
// active input instead of a hard-to-predict branch per input.
void ActiveInputs(const uint8_t* x, int64_t inputs, std::vector<int32_t>* active) {
  active->resize(static_cast<size_t>(inputs));
  int32_t* out = active->data();
  int64_t count = 0, i = 0;
  for (; i + 8 <= inputs; i += 8) {
    uint64_t word;
    std::memcpy(&word, x + i, 8);
    // Any non-zero byte is active (as numpy reads a bool): first reduced to 0/1.
    word = ((((word & 0x7f7f7f7f7f7f7f7fULL) + 0x7f7f7f7f7f7f7f7fULL) | word) >> 7) &
           0x0101010101010101ULL;
    uint32_t bits = static_cast<uint32_t>((word * 0x0102040810204080ULL) >> 56);
    while (bits != 0) {
      out[count++] = static_cast<int32_t>(i + __builtin_ctz(bits));
      bits &= bits - 1;
    }
  }
  for (; i < inputs; ++i) {
    if (x[i] != 0) out[count++] = static_cast<int32_t>(i);
  }
  active->resize(static_cast<size_t>(count));
}

// The potentials are exact integer sums: every instruction set gives the same, so this loop is
// compiled for several and the loader picks the CPU's best (GCC's target_clones). It calls no
// inline function: only its own body is compiled for the wider instruction sets, so no shared
// inline code (a template instantiation) can come out of here with AVX-512 in it.
#if defined(__x86_64__) && defined(__GNUC__) && !defined(__clang__)
#define CNN2SNN_TFMOT_CLONES \
  __attribute__((target_clones("arch=skylake-avx512", "avx2", "default")))
#else
#define CNN2SNN_TFMOT_CLONES
#endif

// out (units,) = the sum of the weight rows of the active inputs, for 0/1 weights: rows are
// added 255 at a time in uint8 lanes (four times the lanes of int32 ones), each part then
// widened into the int32 total. `part` and `total` are scratch buffers of `units` values.
CNN2SNN_TFMOT_CLONES
void PotentialsBinary(const uint8_t* weights, int64_t units, const int32_t* rows, int64_t count,
                      uint8_t* part, int32_t* total, int64_t* out) {
  for (int64_t u = 0; u < units; ++u) total[u] = 0;
  for (int64_t first = 0; first < count; first += 255) {
    const int64_t last = count - first < 255 ? count : first + 255;
    for (int64_t u = 0; u < units; ++u) part[u] = 0;
    for (int64_t k = first; k < last; ++k) {
      const uint8_t* w = weights + static_cast<int64_t>(rows[k]) * units;
      for (int64_t u = 0; u < units; ++u) part[u] = static_cast<uint8_t>(part[u] + w[u]);
    }
    for (int64_t u = 0; u < units; ++u) total[u] += part[u];
  }
  for (int64_t u = 0; u < units; ++u) out[u] = total[u];
}

// The same for any uint8 weights (the layer's are 0/1; kept exact for other values), in int64.
void PotentialsWide(const uint8_t* weights, int64_t units, const int32_t* rows, int64_t count,
                    int64_t* out) {
  std::fill(out, out + units, int64_t{0});
  for (int64_t k = 0; k < count; ++k) {
    const uint8_t* w = weights + static_cast<int64_t>(rows[k]) * units;
    for (int64_t u = 0; u < units; ++u) out[u] += w[u];
  }
}

// chip/learning.py:_round_robin: the candidates cut into k consecutive blocks (the first
// count % k one longer), one pick per block at the register modulo the block's size, the
// register moving to the pick's offset + 1. Appends the picked positions (sorted).
void RoundRobin(int64_t count, int64_t k, int64_t* reg, std::vector<int64_t>* picks) {
  picks->clear();
  const int64_t size = count / k, big = count % k;
  int64_t start = 0, r = *reg;
  for (int64_t block = 0; block < k; ++block) {
    const int64_t span = block < big ? size + 1 : size;
    r %= span;
    picks->push_back(start + r);
    r += 1;
    start += span;
  }
  *reg = r;
}

}  // namespace

extern "C" int32_t cnn2snn_tfmot_learn(uint8_t* weights, int64_t inputs, int64_t units,
                                       const uint8_t* spikes, int64_t n, const int64_t* labels,
                                       int64_t per_class, int64_t* threshold_learning,
                                       int64_t* thswap, int64_t* round_robin,
                                       int64_t threshold_cap, int64_t swap_decrement,
                                       int64_t min_swaps, int64_t* potentials, char* error,
                                       int64_t error_size) {
  if (inputs < 1 || units < 1 || n < 0 || inputs > std::numeric_limits<int32_t>::max()) {
    SetError(error, error_size, "cnn2snn_tfmot_learn: inputs, units must be >= 1, n >= 0");
    return -1;
  }
  if (labels != nullptr && (per_class < 1 || per_class > units)) {
    SetError(error, error_size, "cnn2snn_tfmot_learn: per_class must be in 1..units");
    return -1;
  }
  if (*round_robin < 0) {
    SetError(error, error_size, "cnn2snn_tfmot_learn: the round-robin register must be >= 0");
    return -1;
  }
  try {
    // Learning writes 0 and 1 only: weights that are all 0/1 stay so for the whole call.
    uint8_t largest = 0;
    for (int64_t i = 0; i < inputs * units; ++i) largest = std::max(largest, weights[i]);
    const bool binary = largest <= 1;
    std::vector<int32_t> active;
    active.reserve(static_cast<size_t>(inputs));
    std::vector<uint8_t> part(static_cast<size_t>(units));
    std::vector<int32_t> total(static_cast<size_t>(units));
    std::vector<std::vector<int32_t>> connections(static_cast<size_t>(units));
    std::vector<uint8_t> listed(static_cast<size_t>(units), 0);
    std::vector<int32_t> inactive, free_inputs, merged;
    std::vector<int64_t> removed, added;
    int64_t reg = *round_robin;
    for (int64_t s = 0; s < n; ++s) {
      const uint8_t* x = spikes + s * inputs;
      int64_t* pots = potentials + s * units;
      int64_t low = 0, high = units;
      if (labels != nullptr && labels[s] >= 0) {
        if (labels[s] >= units / per_class) {
          char message[160];
          std::snprintf(message, sizeof(message),
                        "cnn2snn_tfmot_learn: sample %lld has label %lld, beyond the %lld "
                        "classes of the layer",
                        static_cast<long long>(s), static_cast<long long>(labels[s]),
                        static_cast<long long>(units / per_class));
          SetError(error, error_size, message);
          *round_robin = reg;
          return -1;
        }
        low = labels[s] * per_class;
        high = low + per_class;
      }
      ActiveInputs(x, inputs, &active);
      if (binary) {  // int32 totals: at most `inputs` (< 2^31) ones
        PotentialsBinary(weights, units, active.data(), static_cast<int64_t>(active.size()),
                         part.data(), total.data(), pots);
      } else {
        PotentialsWide(weights, units, active.data(), static_cast<int64_t>(active.size()), pots);
      }
      // The first of equal maxima among the neurons whose potential exceeds their threshold
      // (potentials are >= 0, so -1 means none).
      int64_t winner = -1, best = -1;
      for (int64_t u = low; u < high; ++u) {
        if (pots[u] > threshold_learning[u] && pots[u] > best) {
          best = pots[u];
          winner = u;
        }
      }
      if (winner < 0) continue;
      std::vector<int32_t>& connected = connections[static_cast<size_t>(winner)];
      if (!listed[static_cast<size_t>(winner)]) {
        for (int64_t i = 0; i < inputs; ++i) {
          if (weights[i * units + winner] != 0) connected.push_back(static_cast<int32_t>(i));
        }
        listed[static_cast<size_t>(winner)] = 1;
      }
      inactive.clear();
      for (int32_t i : connected) {
        if (x[i] == 0) inactive.push_back(i);
      }
      free_inputs.clear();
      for (int32_t i : active) {
        if (weights[static_cast<int64_t>(i) * units + winner] == 0) free_inputs.push_back(i);
      }
      const int64_t moved = std::min<int64_t>(
          thswap[winner], std::min<int64_t>(static_cast<int64_t>(inactive.size()),
                                            static_cast<int64_t>(free_inputs.size())));
      if (moved > 0) {
        // Removal first, then addition, with one register (measured on BrainChip's runtime).
        RoundRobin(static_cast<int64_t>(inactive.size()), moved, &reg, &removed);
        RoundRobin(static_cast<int64_t>(free_inputs.size()), moved, &reg, &added);
        // The new connection list: the old one without the removed inputs, merged with the
        // added ones (all three sorted; added inputs were not connected).
        merged.clear();
        size_t r = 0, a = 0;
        for (int32_t i : connected) {
          if (r < removed.size() && inactive[static_cast<size_t>(removed[r])] == i) {
            ++r;
            weights[static_cast<int64_t>(i) * units + winner] = 0;
            continue;
          }
          while (a < added.size() && free_inputs[static_cast<size_t>(added[a])] < i) {
            merged.push_back(free_inputs[static_cast<size_t>(added[a++])]);
          }
          merged.push_back(i);
        }
        for (; a < added.size(); ++a) merged.push_back(free_inputs[static_cast<size_t>(added[a])]);
        for (int64_t position : added) {
          weights[static_cast<int64_t>(free_inputs[static_cast<size_t>(position)]) * units +
                  winner] = 1;
        }
        connected.swap(merged);
        threshold_learning[winner] = std::min(pots[winner], threshold_cap);
      }
      thswap[winner] = std::max(thswap[winner] - swap_decrement, min_swaps);
    }
    *round_robin = reg;
    return 0;
  } catch (const std::bad_alloc&) {
    SetError(error, error_size, "cnn2snn_tfmot_learn: out of memory");
    return -1;
  }
}
