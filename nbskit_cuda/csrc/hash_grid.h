// Index and weight arithmetic of the multi-resolution hash grid (docs/architecture.md, “Hash encoding”), shared by the
// C++ and CUDA kernels so both read exactly the same table entries with the same weights.
#pragma once

#include <cmath>
#include <cstdint>

#ifdef __CUDACC__
#define NBSKIT_HOST_DEVICE __host__ __device__ __forceinline__
#else
// Forced: g++ left cell_corners out of line, a call per sample and level (15% of the lookup).
#define NBSKIT_HOST_DEVICE inline __attribute__((always_inline))
#endif

namespace nbskit {

constexpr int kDims = 3;
constexpr int kCorners = 1 << kDims;  // trilinear interpolation reads the 8 cell corners
// Spatial-hash primes of the reference convention (the x axis is multiplied by 1).
constexpr uint32_t kPrimeY = 2654435761u;
constexpr uint32_t kPrimeZ = 805459861u;

// What a kernel needs to know about one level; filled once on the host from the offsets and
// per-level scales that the Python side computes (float32, exactly as the torch reference).
struct LevelGeometry {
  float scale;       // positions are x * scale + 0.5 in grid units
  uint32_t stride;   // grid points per axis, (ceil(scale) + 1) + 1
  uint32_t entries;  // table rows of this level
  uint32_t offset;   // first row of this level in the concatenated table
  bool dense;        // every grid point has its own row (no hashing)
  uint32_t mask;     // entries - 1 when entries is a power of two (then % is a bitwise and), else 0

  // index % entries without an integer division (tens of cycles, 8 per sample and level) where it
  // can be avoided: a dense level's index is already below entries, and a hashed level normally
  // has a power-of-two table.
  NBSKIT_HOST_DEVICE uint32_t wrap(uint32_t index) const {
    if (dense) return index;
    return mask != 0 ? (index & mask) : index % entries;
  }
};

inline LevelGeometry make_level_geometry(float scale, int32_t offset, int32_t next_offset) {
  LevelGeometry level;
  level.scale = scale;
  const uint64_t resolution = static_cast<uint64_t>(std::ceil(scale)) + 1;
  level.stride = static_cast<uint32_t>(resolution + 1);
  level.entries = static_cast<uint32_t>(next_offset - offset);
  level.offset = static_cast<uint32_t>(offset);
  const uint64_t points = static_cast<uint64_t>(level.stride) * level.stride * level.stride;
  level.dense = points <= level.entries;
  const bool power_of_two = level.entries > 1 && (level.entries & (level.entries - 1)) == 0;
  level.mask = power_of_two ? level.entries - 1 : 0;
  return level;
}

// A sample outside [0,1]^3 (or NaN) encodes to zeros and receives no gradient.
NBSKIT_HOST_DEVICE bool inside_unit_cube(float x0, float x1, float x2) {
  // & rather than &&: no branches, so loops over samples that call this can be vectorised.
  return (x0 >= 0.f) & (x0 <= 1.f) & (x1 >= 0.f) & (x1 <= 1.f) & (x2 >= 0.f) & (x2 <= 1.f);
}

// Absolute rows and trilinear weights of the 8 corners around x.
struct CellCorners {
  uint32_t row[kCorners];
  float weight[kCorners];
};

// The position x * scale + 0.5 must be rounded as a separate multiply and add, as the torch
// reference does, or fine levels floor a different cell now and then: the builds disable
// multiply-add contraction (-ffp-contract=off, nvcc --fmad=false).

// Corner c = (i, j, k) = (c & 1, (c >> 1) & 1, c >> 2) offsets the cell's base corner by (i, j, k).
// The per-axis terms (index contribution and 1-D weight of the lower and upper side) are computed
// once and combined, instead of once per corner (4 multiplies instead of 16 for the hash, 16
// instead of 24 for the weights). The weight is ((w_x * w_y) * w_z), the reference's rounding order.
NBSKIT_HOST_DEVICE void cell_corners(const float x[kDims], const LevelGeometry& level, CellCorners& out) {
  uint32_t term[kDims][2];  // index contribution of the lower / upper corner along each axis
  float side[kDims][2];     // 1-D interpolation weight of the lower / upper corner
  const uint32_t multiplier[kDims] = {1u, level.dense ? level.stride : kPrimeY,
                                      level.dense ? level.stride * level.stride : kPrimeZ};
  for (int d = 0; d < kDims; ++d) {
    const float pos = x[d] * level.scale + 0.5f;
    const float cell = floorf(pos);
    const uint32_t base = static_cast<uint32_t>(cell);
    const float frac = pos - cell;
    term[d][0] = base * multiplier[d];
    term[d][1] = (base + 1u) * multiplier[d];
    side[d][0] = 1.f - frac;
    side[d][1] = frac;
  }
  for (int c = 0; c < kCorners; ++c) {
    const int i = c & 1, j = (c >> 1) & 1, k = c >> 2;
    const uint32_t index = level.dense ? term[0][i] + term[1][j] + term[2][k] : term[0][i] ^ term[1][j] ^ term[2][k];
    out.row[c] = level.offset + level.wrap(index);
    out.weight[c] = (side[0][i] * side[1][j]) * side[2][k];
  }
}

}  // namespace nbskit
