// CUDA marching and compositing kernels: one thread per ray, the per-ray arithmetic shared with
// the C++ kernels (render_math.h), so both emit the same samples and weights.
#include <ATen/cuda/CUDAContext.h>
#include <c10/cuda/CUDAGuard.h>

#include "render.h"
#include "render_common.h"

namespace nbskit {
namespace {

constexpr int kThreads = 128;

inline unsigned int blocks_for(int64_t work) { return static_cast<unsigned int>((work + kThreads - 1) / kThreads); }

// This thread's ray; false past the last one.
__device__ __forceinline__ bool thread_ray(int64_t R, int64_t& r) {
  r = blockIdx.x * int64_t(blockDim.x) + threadIdx.x;
  return r < R;
}

__global__ void march_count_kernel(RayBatch rays, MarchParams p, int64_t R, int64_t* __restrict__ counts) {
  int64_t r;
  if (thread_ray(R, r)) counts[r + 1] = count_ray_samples(rays, r, p);
}

// Takes its inputs as __restrict__ pointers, not as a RayBatch: only then does the compiler know
// that the samples it writes cannot change them, and read them (bitfield included) through the
// read-only cache.
__global__ void march_fill_kernel(const float* __restrict__ origins, const float* __restrict__ dirs,
                                  const float* __restrict__ t_begin, const float* __restrict__ far,
                                  const bool* __restrict__ active, const uint8_t* __restrict__ bitfield,
                                  MarchParams p, int64_t R, const int64_t* __restrict__ first,
                                  int64_t* __restrict__ ray_index, float* __restrict__ t_start,
                                  float* __restrict__ t_end) {
  int64_t r;
  if (thread_ray(R, r)) {
    write_ray_samples({origins, dirs, t_begin, far, active, bitfield}, r, p, first[r], first[r + 1],
                      {ray_index, t_start, t_end});
  }
}

__global__ void composite_forward_kernel(CompositeSamples samples, int64_t R, float* __restrict__ colour,
                                         float* __restrict__ opacity, float* __restrict__ depth,
                                         float* __restrict__ weights) {
  int64_t r;
  if (thread_ray(R, r)) composite_ray_forward(samples, r, weights, colour, opacity, depth);
}

__global__ void composite_backward_kernel(CompositeSamples samples, CompositeOutputGrads grads, int64_t R,
                                          float* __restrict__ grad_sigma, float* __restrict__ grad_rgb) {
  int64_t r;
  if (thread_ray(R, r)) composite_ray_backward(samples, grads, r, grad_sigma, grad_rgb);
}

void check_cuda(const at::Tensor& t, const char* what) {
  TORCH_CHECK_VALUE(t.is_cuda(), "render (CUDA): ", what, " must be on a CUDA device, got ", t.device());
}

}  // namespace

std::vector<at::Tensor> march_rays_cuda(const at::Tensor& origins, const at::Tensor& dirs, const at::Tensor& t_begin,
                                        const at::Tensor& far, const at::Tensor& active, const at::Tensor& bitfield,
                                        const at::Tensor& aabb_min, const at::Tensor& cell_extent, int64_t resolution,
                                        double cone_angle, double min_step, double max_step, double nudge,
                                        int64_t max_steps) {
  check_cuda(origins, "rays");
  const at::cuda::CUDAGuard guard(origins.device());
  const RayInputs inputs = ray_inputs(origins, dirs, t_begin, far, active, bitfield, resolution);
  const MarchParams p =
      make_march_params(aabb_min, cell_extent, resolution, cone_angle, min_step, max_step, nudge, max_steps);
  const int64_t R = inputs.num_rays();
  const auto stream = at::cuda::getCurrentCUDAStream();
  auto counts = at::zeros({R + 1}, origins.options().dtype(at::kLong));
  if (R > 0) {
    march_count_kernel<<<blocks_for(R), kThreads, 0, stream>>>(inputs.view(), p, R, counts.data_ptr<int64_t>());
    C10_CUDA_KERNEL_LAUNCH_CHECK();
  }
  const auto first = counts.cumsum(0);
  const int64_t S = first[R].item<int64_t>();
  auto ray_index = at::empty({S}, origins.options().dtype(at::kLong));
  auto t_start = at::empty({S}, origins.options());
  auto t_end = at::empty({S}, origins.options());
  if (S > 0) {
    const RayBatch rays = inputs.view();
    march_fill_kernel<<<blocks_for(R), kThreads, 0, stream>>>(
        rays.origins, rays.dirs, rays.t_begin, rays.far, rays.active, rays.bitfield, p, R, first.data_ptr<int64_t>(),
        ray_index.data_ptr<int64_t>(), t_start.data_ptr<float>(), t_end.data_ptr<float>());
    C10_CUDA_KERNEL_LAUNCH_CHECK();
  }
  return {ray_index, t_start, t_end};
}

std::vector<at::Tensor> composite_forward_cuda(const at::Tensor& sigma, const at::Tensor& rgb,
                                               const at::Tensor& t_start, const at::Tensor& t_end,
                                               const at::Tensor& ray_start) {
  check_cuda(sigma, "samples");
  const at::cuda::CUDAGuard guard(sigma.device());
  const CompositeInputs inputs = composite_inputs(sigma, rgb, t_start, t_end, ray_start);
  const int64_t R = inputs.num_rays(), S = inputs.num_samples();
  auto colour = at::empty({R, kChannels}, sigma.options());
  auto opacity = at::empty({R}, sigma.options());
  auto depth = at::empty({R}, sigma.options());
  auto weights = at::zeros({S}, sigma.options());  // zeros: a sample outside every ray's range is not visited
  if (R > 0) {
    composite_forward_kernel<<<blocks_for(R), kThreads, 0, at::cuda::getCurrentCUDAStream()>>>(
        inputs.view(), R, colour.data_ptr<float>(), opacity.data_ptr<float>(), depth.data_ptr<float>(),
        weights.data_ptr<float>());
    C10_CUDA_KERNEL_LAUNCH_CHECK();
  }
  return {colour, opacity, depth, weights};
}

std::vector<at::Tensor> composite_backward_cuda(const at::Tensor& grad_colour, const at::Tensor& grad_opacity,
                                                const at::Tensor& grad_depth, const at::Tensor& grad_weights,
                                                const at::Tensor& sigma, const at::Tensor& rgb,
                                                const at::Tensor& t_start, const at::Tensor& t_end,
                                                const at::Tensor& ray_start) {
  check_cuda(sigma, "samples");
  const at::cuda::CUDAGuard guard(sigma.device());
  const CompositeInputs inputs = composite_inputs(sigma, rgb, t_start, t_end, ray_start);
  const CompositeGradInputs grads = composite_grad_inputs(grad_colour, grad_opacity, grad_depth, grad_weights, inputs);
  const int64_t R = inputs.num_rays(), S = inputs.num_samples();
  auto grad_sigma = at::zeros({S}, sigma.options());  // zeros: as the weights, for unvisited samples
  auto grad_rgb = at::zeros({S, kChannels}, sigma.options());
  if (R > 0 && S > 0) {
    composite_backward_kernel<<<blocks_for(R), kThreads, 0, at::cuda::getCurrentCUDAStream()>>>(
        inputs.view(), grads.view(), R, grad_sigma.data_ptr<float>(), grad_rgb.data_ptr<float>());
    C10_CUDA_KERNEL_LAUNCH_CHECK();
  }
  return {grad_sigma, grad_rgb};
}

}  // namespace nbskit
