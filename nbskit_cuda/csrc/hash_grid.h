// Index and weight arithmetic of the multi-resolution hash grid (DESIGN.md §4), shared by the
// C++ and CUDA kernels so both read exactly the same table entries with the same weights.
#pragma once

#include <cmath>
#include <cstdint>

#ifdef __CUDACC__
#define NBSKIT_HOST_DEVICE __host__ __device__ __forceinline__
#else
#define NBSKIT_HOST_DEVICE inline
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
  return level;
}

// A sample outside [0,1]^3 (or NaN) encodes to zeros and receives no gradient.
NBSKIT_HOST_DEVICE bool inside_unit_cube(float x0, float x1, float x2) {
  return x0 >= 0.f && x0 <= 1.f && x1 >= 0.f && x1 <= 1.f && x2 >= 0.f && x2 <= 1.f;
}

// Absolute rows and trilinear weights of the 8 corners around x.
struct CellCorners {
  uint32_t row[kCorners];
  float weight[kCorners];
};

// The position x * scale + 0.5 must be rounded as a separate multiply and add, as the torch
// reference does, or fine levels floor a different cell now and then: the builds disable
// multiply-add contraction (-ffp-contract=off, nvcc --fmad=false).

NBSKIT_HOST_DEVICE void cell_corners(const float x[kDims], const LevelGeometry& level, CellCorners& out) {
  uint32_t base[kDims];
  float frac[kDims];
  for (int d = 0; d < kDims; ++d) {
    const float pos = x[d] * level.scale + 0.5f;
    const float cell = floorf(pos);
    base[d] = static_cast<uint32_t>(cell);
    frac[d] = pos - cell;
  }
  for (int c = 0; c < kCorners; ++c) {
    float w = 1.f;
    uint32_t p[kDims];
    for (int d = 0; d < kDims; ++d) {
      const bool upper = (c >> d) & 1;
      w *= upper ? frac[d] : 1.f - frac[d];
      p[d] = base[d] + (upper ? 1u : 0u);
    }
    uint32_t index;
    if (level.dense) {
      index = p[0] + p[1] * level.stride + p[2] * level.stride * level.stride;
    } else {
      index = p[0] ^ (p[1] * kPrimeY) ^ (p[2] * kPrimeZ);
    }
    out.row[c] = level.offset + index % level.entries;
    out.weight[c] = w;
  }
}

}  // namespace nbskit
