// C++ (at::parallel_for) marching and compositing kernels; one ray per work unit, the per-ray
// arithmetic shared with the CUDA kernels (render_math.h).
#include <ATen/Parallel.h>

#include "render.h"
#include "render_common.h"

namespace nbskit {
namespace {
constexpr int64_t kRayGrain = 256;  // rays per work item

// Calls per_ray(r) for every ray, in parallel.
template <typename PerRay>
void for_each_ray(int64_t R, PerRay&& per_ray) {
  at::parallel_for(0, R, kRayGrain, [&](int64_t begin, int64_t end) {
    for (int64_t r = begin; r < end; ++r) per_ray(r);
  });
}
}  // namespace

std::vector<at::Tensor> march_rays_cpu(const at::Tensor& origins, const at::Tensor& dirs, const at::Tensor& t_begin,
                                       const at::Tensor& far, const at::Tensor& active, const at::Tensor& bitfield,
                                       const at::Tensor& aabb_min, const at::Tensor& cell_extent, int64_t resolution,
                                       double cone_angle, double min_step, double max_step, double nudge,
                                       int64_t max_steps) {
  const RayInputs inputs = ray_inputs(origins, dirs, t_begin, far, active, bitfield, resolution);
  const MarchParams p =
      make_march_params(aabb_min, cell_extent, resolution, cone_angle, min_step, max_step, nudge, max_steps);
  const RayBatch rays = inputs.view();
  const int64_t R = inputs.num_rays();

  // Pass 1 counts the samples of every ray, pass 2 writes them at their packed offsets.
  auto counts = at::zeros({R + 1}, at::kLong);
  int64_t* count = counts.data_ptr<int64_t>();
  for_each_ray(R, [&](int64_t r) { count[r + 1] = count_ray_samples(rays, r, p); });
  const auto offsets = counts.cumsum(0);
  const int64_t S = offsets[R].item<int64_t>();
  const int64_t* first = offsets.data_ptr<int64_t>();
  auto ray_index = at::empty({S}, at::kLong);
  auto t_start = at::empty({S}, at::kFloat);
  auto t_end = at::empty({S}, at::kFloat);
  const PackedSampleSlots slots{ray_index.data_ptr<int64_t>(), t_start.data_ptr<float>(), t_end.data_ptr<float>()};
  for_each_ray(R, [&](int64_t r) { write_ray_samples(rays, r, p, first[r], first[r + 1], slots); });
  return {ray_index, t_start, t_end};
}

std::vector<at::Tensor> composite_forward_cpu(const at::Tensor& sigma, const at::Tensor& rgb, const at::Tensor& t_start,
                                              const at::Tensor& t_end, const at::Tensor& ray_start) {
  const CompositeInputs inputs = composite_inputs(sigma, rgb, t_start, t_end, ray_start);
  check_ray_start_cpu(inputs);
  const int64_t R = inputs.num_rays(), S = inputs.num_samples();
  auto colour = at::empty({R, kChannels}, sigma.options());
  auto opacity = at::empty({R}, sigma.options());
  auto depth = at::empty({R}, sigma.options());
  auto weights = at::zeros({S}, sigma.options());  // zeros: a sample outside every ray's range is not visited
  const CompositeSamples samples = inputs.view();
  float* w = weights.data_ptr<float>();
  float* col = colour.data_ptr<float>();
  float* op = opacity.data_ptr<float>();
  float* dp = depth.data_ptr<float>();
  for_each_ray(R, [&](int64_t r) { composite_ray_forward(samples, r, w, col, op, dp); });
  return {colour, opacity, depth, weights};
}

std::vector<at::Tensor> composite_backward_cpu(const at::Tensor& grad_colour, const at::Tensor& grad_opacity,
                                               const at::Tensor& grad_depth, const at::Tensor& grad_weights,
                                               const at::Tensor& sigma, const at::Tensor& rgb,
                                               const at::Tensor& t_start, const at::Tensor& t_end,
                                               const at::Tensor& ray_start) {
  const CompositeInputs inputs = composite_inputs(sigma, rgb, t_start, t_end, ray_start);
  check_ray_start_cpu(inputs);
  const CompositeGradInputs grads = composite_grad_inputs(grad_colour, grad_opacity, grad_depth, grad_weights, inputs);
  const int64_t R = inputs.num_rays(), S = inputs.num_samples();
  auto grad_sigma = at::zeros({S}, sigma.options());
  auto grad_rgb = at::zeros({S, kChannels}, sigma.options());
  const CompositeSamples samples = inputs.view();
  const CompositeOutputGrads output_grads = grads.view();
  float* gs = grad_sigma.data_ptr<float>();
  float* grgb = grad_rgb.data_ptr<float>();
  for_each_ray(R, [&](int64_t r) { composite_ray_backward(samples, output_grads, r, gs, grgb); });
  return {grad_sigma, grad_rgb};
}

}  // namespace nbskit
