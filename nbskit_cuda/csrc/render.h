// Declarations of the marching and compositing entry points (CPU: render_cpu.cpp, CUDA:
// render_cuda.cu). Samples are packed: the samples of ray r are [ray_start[r], ray_start[r+1]).
#pragma once

#include <ATen/ATen.h>

#include <vector>

// Declares the entry points of one device (cpu or cuda: march_rays_cpu, march_rays_cuda, ...); both
// take the same arguments and return the same results (tensors on their device).
#define NBSKIT_DECLARE_RENDER(device)                                                                              \
  /* origins, dirs [R,3]; t_begin (jittered near), far [R]; active [R] bool (near < far); */                       \
  /* bitfield [cells/8] uint8; aabb_min, cell_extent [3] float32. */                                              \
  /* Returns {ray_index [S] int64, t_start [S], t_end [S]}, rays in increasing order. */                           \
  std::vector<at::Tensor> march_rays_##device(                                                                     \
      const at::Tensor& origins, const at::Tensor& dirs, const at::Tensor& t_begin, const at::Tensor& far,        \
      const at::Tensor& active, const at::Tensor& bitfield, const at::Tensor& aabb_min,                           \
      const at::Tensor& cell_extent, int64_t resolution, double cone_angle, double min_step, double max_step,     \
      double nudge, int64_t max_steps);                                                                            \
  /* sigma [S], rgb [S,3], t_start/t_end [S], ray_start [R+1] int64. */                                           \
  /* Returns {colour [R,3] (no background), opacity [R], depth [R], weights [S]}. */                               \
  std::vector<at::Tensor> composite_forward_##device(const at::Tensor& sigma, const at::Tensor& rgb,               \
                                                     const at::Tensor& t_start, const at::Tensor& t_end,           \
                                                     const at::Tensor& ray_start);                                 \
  /* Gradients of the four outputs above in, {grad_sigma [S], grad_rgb [S,3]} out. */                              \
  std::vector<at::Tensor> composite_backward_##device(                                                             \
      const at::Tensor& grad_colour, const at::Tensor& grad_opacity, const at::Tensor& grad_depth,                \
      const at::Tensor& grad_weights, const at::Tensor& sigma, const at::Tensor& rgb, const at::Tensor& t_start,  \
      const at::Tensor& t_end, const at::Tensor& ray_start)

namespace nbskit {

NBSKIT_DECLARE_RENDER(cpu);
NBSKIT_DECLARE_RENDER(cuda);

}  // namespace nbskit
