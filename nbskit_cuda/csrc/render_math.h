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

// Raw pointers to a batch of R rays to march (contiguous device or host memory).
struct RayBatch {
  const float* origins;  // [R,3]
  const float* dirs;     // [R,3]
  const float* t_begin;  // [R] jittered near
  const float* far;      // [R]
  const bool* active;    // [R] near < far
  const uint8_t* bitfield;
};

// Where marched samples go: slots [first[r], first[r+1]) hold the samples of ray r.
struct PackedSampleSlots {
  int64_t* ray_index;  // [S]
  float* t_start;      // [S]
  float* t_end;        // [S]
};

// How many samples ray r emits (pass 1 of marching: sizes the packed output).
NBSKIT_HOST_DEVICE int64_t count_ray_samples(const RayBatch& rays, int64_t r, const MarchParams& p) {
  if (!rays.active[r]) return 0;
  return march_ray(rays.origins + r * kDims, rays.dirs + r * kDims, rays.t_begin[r], rays.far[r], rays.bitfield, p,
                   [](float, float) {});
}

// Marches ray r again and writes its samples into slots [first, last) (pass 2 of marching), the
// slots pass 1 counted. Both passes make the same steps, but nothing is written past `last` should
// they ever differ, and slots left over are filled with empty intervals (no weight) at the end.
NBSKIT_HOST_DEVICE void write_ray_samples(const RayBatch& rays, int64_t r, const MarchParams& p, int64_t first,
                                          int64_t last, const PackedSampleSlots& out) {
  int64_t s = first;
  float reached = rays.t_begin[r];
  if (rays.active[r]) {
    march_ray(rays.origins + r * kDims, rays.dirs + r * kDims, rays.t_begin[r], rays.far[r], rays.bitfield, p,
              [&](float start, float end) {
                if (s >= last) return;
                out.ray_index[s] = r;
                out.t_start[s] = start;
                out.t_end[s] = end;
                reached = end;
                ++s;
              });
  }
  for (; s < last; ++s) {
    out.ray_index[s] = r;
    out.t_start[s] = reached;
    out.t_end[s] = reached;
  }
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

// Raw pointers to packed samples: those of ray r are [ray_start[r], ray_start[r+1]).
struct CompositeSamples {
  const float* sigma;        // [S]
  const float* rgb;          // [S,3]
  const float* t_start;      // [S]
  const float* t_end;        // [S]
  const int64_t* ray_start;  // [R+1]
  int64_t count;             // S

  NBSKIT_HOST_DEVICE float t_mid(int64_t i) const { return 0.5f * (t_start[i] + t_end[i]); }
  // Samples [begin, end) of ray r, clamped to [0, S]: a bad ray_start never reaches past the arrays.
  NBSKIT_HOST_DEVICE void range(int64_t r, int64_t& begin, int64_t& end) const {
    begin = ray_start[r] < 0 ? 0 : (ray_start[r] > count ? count : ray_start[r]);
    end = ray_start[r + 1] < begin ? begin : (ray_start[r + 1] > count ? count : ray_start[r + 1]);
  }
};

// Gradients of the compositing outputs (raw pointers).
struct CompositeOutputGrads {
  const float* colour;   // [R,3]
  const float* opacity;  // [R]
  const float* depth;    // [R]
  const float* weights;  // [S]
};

// Composites ray r: the weights of its samples into weights [S], and its colour (no background),
// opacity and depth into colour [R,3], opacity [R], depth [R] (each summed in sample order).
NBSKIT_HOST_DEVICE void composite_ray_forward(const CompositeSamples& s, int64_t r, float* weights, float* colour,
                                              float* opacity, float* depth) {
  float col[kChannels] = {0.f, 0.f, 0.f};
  float op = 0.f, dp = 0.f;
  int64_t begin, end;
  s.range(r, begin, end);
  composite_ray(s.sigma, s.t_start, s.t_end, begin, end,
                [&](int64_t i, const SampleTerms& terms) {
                  weights[i] = terms.weight;
                  op += terms.weight;
                  dp += terms.weight * s.t_mid(i);
                  for (int ch = 0; ch < kChannels; ++ch) col[ch] += terms.weight * s.rgb[i * kChannels + ch];
                });
  opacity[r] = op;
  depth[r] = dp;
  for (int ch = 0; ch < kChannels; ++ch) colour[r * kChannels + ch] = col[ch];
}

// Gradients of ray r's outputs with respect to its samples' sigma (into grad_sigma [S]) and rgb
// (into grad_rgb [S,3]).
NBSKIT_HOST_DEVICE void composite_ray_backward(const CompositeSamples& s, const CompositeOutputGrads& g, int64_t r,
                                               float* grad_sigma, float* grad_rgb) {
  int64_t begin, end;
  s.range(r, begin, end);
  // dL/dw_i: every output is linear in the weights.
  auto weight_grad = [&](int64_t i) {
    float grad = g.weights[i] + g.opacity[r] + g.depth[r] * s.t_mid(i);
    for (int ch = 0; ch < kChannels; ++ch) grad += g.colour[r * kChannels + ch] * s.rgb[i * kChannels + ch];
    return grad;
  };
  // w_i depends on tau_k for k <= i: dw_i/dtau_k = -w_i (k < i), T_i (1 - alpha_i) alive (k = i).
  // So dL/dtau_k = g_k T_k survive_k alive_k - sum_{i>k} g_i w_i: one pass for the total of
  // g_i w_i, a second that peels it off sample by sample.
  double later = 0.0;
  composite_ray(s.sigma, s.t_start, s.t_end, begin, end,
                [&](int64_t i, const SampleTerms& terms) { later += double(weight_grad(i)) * terms.weight; });
  composite_ray(s.sigma, s.t_start, s.t_end, begin, end, [&](int64_t i, const SampleTerms& terms) {
    const float grad = weight_grad(i);
    later -= double(grad) * terms.weight;
    const float own = terms.alive ? grad * terms.transmittance * terms.survive : 0.f;
    grad_sigma[i] = static_cast<float>((double(own) - later) * double(s.t_end[i] - s.t_start[i]));
    for (int ch = 0; ch < kChannels; ++ch) grad_rgb[i * kChannels + ch] = terms.weight * g.colour[r * kChannels + ch];
  });
}

}  // namespace nbskit
