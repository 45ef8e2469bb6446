// Input validation and parameter packing shared by the CPU and CUDA render entry points.
#pragma once

#include <ATen/ATen.h>

#include "render_math.h"

namespace nbskit {

inline void check_float_tensor(const at::Tensor& t, at::IntArrayRef shape, const char* name) {
  TORCH_CHECK_VALUE(t.scalar_type() == at::kFloat && t.sizes() == shape, "render: ", name, " must be float32 ", shape,
                    ", got ", t.scalar_type(), " ", t.sizes());
}

inline void check_same_device(const at::Tensor& t, const at::Tensor& first, const char* name) {
  TORCH_CHECK_VALUE(t.device() == first.device(), "render: ", name, " is on ", t.device(), " but the others on ",
                    first.device());
}

inline MarchParams make_march_params(const at::Tensor& aabb_min, const at::Tensor& cell_extent, int64_t resolution,
                                     double cone_angle, double min_step, double max_step, double nudge,
                                     int64_t max_steps) {
  check_float_tensor(aabb_min, {kDims}, "aabb_min");
  check_float_tensor(cell_extent, {kDims}, "cell_extent");
  TORCH_CHECK_VALUE(resolution > 0 && max_steps > 0 && min_step > 0, "march: need resolution, max_steps, min_step > 0");
  MarchParams p;
  const auto lo = aabb_min.to(at::kCPU);
  const auto cell = cell_extent.to(at::kCPU);
  for (int k = 0; k < kDims; ++k) {
    p.aabb_min[k] = lo[k].item<float>();
    p.cell_extent[k] = cell[k].item<float>();
  }
  // Python floats become float32 exactly where the torch reference meets them in float32 ops.
  p.resolution = resolution;
  p.cone_angle = static_cast<float>(cone_angle);
  p.min_step = static_cast<float>(min_step);
  p.max_step = static_cast<float>(max_step);
  p.nudge = static_cast<float>(nudge);
  p.max_steps = max_steps;
  return p;
}

// The marching inputs, checked and made contiguous (kept alive here while kernels read view()).
struct RayInputs {
  at::Tensor origins, dirs, t_begin, far, active, bitfield;

  int64_t num_rays() const { return origins.size(0); }
  RayBatch view() const {
    return {origins.data_ptr<float>(), dirs.data_ptr<float>(), t_begin.data_ptr<float>(),
            far.data_ptr<float>(),     active.data_ptr<bool>(), bitfield.data_ptr<uint8_t>()};
  }
};

inline RayInputs ray_inputs(const at::Tensor& origins, const at::Tensor& dirs, const at::Tensor& t_begin,
                            const at::Tensor& far, const at::Tensor& active, const at::Tensor& bitfield,
                            int64_t resolution) {
  const int64_t R = origins.size(0);
  check_float_tensor(origins, {R, kDims}, "origins");
  check_float_tensor(dirs, {R, kDims}, "dirs");
  check_float_tensor(t_begin, {R}, "t_begin");
  check_float_tensor(far, {R}, "far");
  TORCH_CHECK_VALUE(active.scalar_type() == at::kBool && active.sizes() == at::IntArrayRef{R},
                    "march: active must be bool [", R, "]");
  TORCH_CHECK_VALUE(bitfield.scalar_type() == at::kByte && bitfield.numel() * 8 >= resolution * resolution * resolution,
                    "march: bitfield must be uint8 with resolution^3 / 8 bytes");
  check_same_device(dirs, origins, "dirs");
  check_same_device(t_begin, origins, "t_begin");
  check_same_device(far, origins, "far");
  check_same_device(active, origins, "active");
  check_same_device(bitfield, origins, "bitfield");
  return {origins.contiguous(), dirs.contiguous(), t_begin.contiguous(),
          far.contiguous(),     active.contiguous(), bitfield.contiguous()};
}

// Packed samples to composite, checked and made contiguous.
struct CompositeInputs {
  at::Tensor sigma, rgb, t_start, t_end, ray_start;

  int64_t num_rays() const { return ray_start.numel() - 1; }
  int64_t num_samples() const { return sigma.numel(); }
  CompositeSamples view() const {
    return {sigma.data_ptr<float>(), rgb.data_ptr<float>(), t_start.data_ptr<float>(), t_end.data_ptr<float>(),
            ray_start.data_ptr<int64_t>(), num_samples()};
  }
};

inline CompositeInputs composite_inputs(const at::Tensor& sigma, const at::Tensor& rgb, const at::Tensor& t_start,
                                        const at::Tensor& t_end, const at::Tensor& ray_start) {
  const int64_t S = sigma.size(0);
  check_float_tensor(sigma, {S}, "sigma");
  check_float_tensor(rgb, {S, kChannels}, "rgb");
  check_float_tensor(t_start, {S}, "t_start");
  check_float_tensor(t_end, {S}, "t_end");
  TORCH_CHECK_VALUE(ray_start.dim() == 1 && ray_start.numel() >= 1 && ray_start.scalar_type() == at::kLong,
                    "composite: ray_start must be int64 [R+1]");
  check_same_device(rgb, sigma, "rgb");
  check_same_device(t_start, sigma, "t_start");
  check_same_device(t_end, sigma, "t_end");
  check_same_device(ray_start, sigma, "ray_start");
  return {sigma.contiguous(), rgb.contiguous(), t_start.contiguous(), t_end.contiguous(), ray_start.contiguous()};
}

// Gradients of the compositing outputs for `samples`, checked and made contiguous.
struct CompositeGradInputs {
  at::Tensor colour, opacity, depth, weights;

  CompositeOutputGrads view() const {
    return {colour.data_ptr<float>(), opacity.data_ptr<float>(), depth.data_ptr<float>(), weights.data_ptr<float>()};
  }
};

inline CompositeGradInputs composite_grad_inputs(const at::Tensor& colour, const at::Tensor& opacity,
                                                 const at::Tensor& depth, const at::Tensor& weights,
                                                 const CompositeInputs& samples) {
  const int64_t R = samples.num_rays(), S = samples.num_samples();
  check_float_tensor(colour, {R, kChannels}, "grad_colour");
  check_float_tensor(opacity, {R}, "grad_opacity");
  check_float_tensor(depth, {R}, "grad_depth");
  check_float_tensor(weights, {S}, "grad_weights");
  for (const at::Tensor* t : {&colour, &opacity, &depth, &weights}) check_same_device(*t, samples.sigma, "a gradient");
  return {colour.contiguous(), opacity.contiguous(), depth.contiguous(), weights.contiguous()};
}

// On the CPU, where reading it costs no wait: ray_start [R+1] must rise from 0 to S, or a ray's
// samples would lie outside the arrays. (The CUDA kernels clamp every ray's range to [0, S].)
inline void check_ray_start_cpu(const CompositeInputs& inputs) {
  const int64_t* start = inputs.ray_start.data_ptr<int64_t>();
  const int64_t R = inputs.num_rays(), S = inputs.num_samples();
  bool rising = start[0] == 0 && start[R] == S;
  for (int64_t r = 0; r < R && rising; ++r) rising = start[r] <= start[r + 1];
  TORCH_CHECK_VALUE(rising, "composite: ray_start must rise from 0 to the sample count S=", S, ", got ", start[0],
                    " ... ", start[R]);
}

}  // namespace nbskit
