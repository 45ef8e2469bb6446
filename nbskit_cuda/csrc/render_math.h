// Per-ray marching and compositing arithmetic shared by the C++ and CUDA kernels. Every float
// operation follows the torch reference (nbskit/render/marching.py, composite.py) in the same
// order, so the compiled marchers emit bit-identical samples.
#pragma once

#include <cmath>
#include <cstdint>

#include "hash_grid.h"  // NBSKIT_HOST_DEVICE, kDims

namespace nbskit {

// Scene box, grid and step sizes, all derived on the host exactly as the reference derives them.
struct MarchParams {
  float aabb_min[kDims];
  float cell_extent[kDims];  // (aabb_max - aabb_min) / resolution
  int64_t resolution;
  float cone_angle;
  float min_step;  // world units
  float max_step;  // world units (one cell diagonal, never below min_step)
  float nudge;     // pushes a skipped ray past the cell boundary
  int64_t max_steps;
};

NBSKIT_HOST_DEVICE float step_size(float t, const MarchParams& p) {
  return fminf(fmaxf(t * p.cone_angle, p.min_step), p.max_step);
}

NBSKIT_HOST_DEVICE bool cell_is_occupied(const uint8_t* bitfield, int64_t index) {
  return (bitfield[index >> 3] >> (index & 7)) & 1;
}

// Marches one ray from t (already jittered) and calls emit(t_start, t_end) for every sample.
// Like the reference, the first step is always taken (a ray is only marched if near < far).
template <typename Emit>
NBSKIT_HOST_DEVICE int64_t march_ray(const float* origin, const float* dir, float t, float far, const uint8_t* bitfield,
                                     const MarchParams& p, Emit&& emit) {
  int64_t emitted = 0;
  do {
    const float dt = step_size(t, p);
    const float mid = t + 0.5f * dt;
    float grid_pos[kDims];
    int64_t cell[kDims];
    for (int k = 0; k < kDims; ++k) {
      grid_pos[k] = ((origin[k] + mid * dir[k]) - p.aabb_min[k]) / p.cell_extent[k];
      const int64_t c = static_cast<int64_t>(floorf(grid_pos[k]));
      cell[k] = c < 0 ? 0 : (c > p.resolution - 1 ? p.resolution - 1 : c);
    }
    const int64_t index = (cell[0] * p.resolution + cell[1]) * p.resolution + cell[2];
    if (cell_is_occupied(bitfield, index)) {
      const float next = t + dt;
      emit(t, fminf(next, far));
      ++emitted;
      t = next;
    } else {
      float exit = INFINITY;  // ray parameter (world) to where it leaves the cell of its midpoint
      for (int k = 0; k < kDims; ++k) {
        const float grid_dir = dir[k] / p.cell_extent[k];
        if (grid_dir == 0.f) continue;  // parallel to this pair of faces: never exits through them
        const float lower = floorf(grid_pos[k]);
        const float boundary = grid_dir > 0.f ? lower + 1.f : lower;
        exit = fminf(exit, (boundary - grid_pos[k]) / grid_dir);
      }
      t = (mid + fmaxf(exit, 0.f)) + p.nudge;
    }
  } while (t < far && emitted < p.max_steps);
  return emitted;
}

// Front-to-back compositing of the samples [begin, end) of one ray (see composite.py).
struct SampleTerms {
  float transmittance;  // T_i, light reaching the sample
  float survive;        // exp(-tau_i) = 1 - alpha_i
  bool alive;           // T_i >= the early-stop threshold
  float weight;         // T_i * alpha_i if alive, else 0
};

constexpr int kChannels = 3;  // RGB
constexpr float kEarlyStopTransmittance = 1e-4f;  // = composite.EARLY_STOP_TRANSMITTANCE

// Calls visit(i, terms) for the samples of one ray in order.
template <typename Visit>
NBSKIT_HOST_DEVICE void composite_ray(const float* sigma, const float* t_start, const float* t_end, int64_t begin,
                                      int64_t end, Visit&& visit) {
  double optical_depth = 0.0;  // float64 running sum, as the reference keeps it
  for (int64_t i = begin; i < end; ++i) {
    const float tau = sigma[i] * (t_end[i] - t_start[i]);
    SampleTerms terms;
    terms.transmittance = expf(-static_cast<float>(optical_depth));
    terms.survive = expf(-tau);
    terms.alive = terms.transmittance >= kEarlyStopTransmittance;
    terms.weight = terms.transmittance * (1.f - terms.survive) * (terms.alive ? 1.f : 0.f);
    visit(i, terms);
    optical_depth += static_cast<double>(tau);
  }
}

}  // namespace nbskit
