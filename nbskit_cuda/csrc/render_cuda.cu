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

__global__ void march_count_kernel(const float* __restrict__ origins, const float* __restrict__ dirs,
                                   const float* __restrict__ t_begin, const float* __restrict__ far,
                                   const bool* __restrict__ active, const uint8_t* __restrict__ bitfield,
                                   MarchParams p, int64_t R, int64_t* __restrict__ counts) {
  const int64_t r = blockIdx.x * int64_t(blockDim.x) + threadIdx.x;
  if (r >= R) return;
  counts[r + 1] = active[r] ? march_ray(origins + r * kDims, dirs + r * kDims, t_begin[r], far[r], bitfield, p,
                                        [](float, float) {})
                            : 0;
}

__global__ void march_fill_kernel(const float* __restrict__ origins, const float* __restrict__ dirs,
                                  const float* __restrict__ t_begin, const float* __restrict__ far,
                                  const bool* __restrict__ active, const uint8_t* __restrict__ bitfield,
                                  MarchParams p, int64_t R, const int64_t* __restrict__ first,
                                  int64_t* __restrict__ ray_index, float* __restrict__ t_start,
                                  float* __restrict__ t_end) {
  const int64_t r = blockIdx.x * int64_t(blockDim.x) + threadIdx.x;
  if (r >= R || !active[r]) return;
  int64_t s = first[r];
  march_ray(origins + r * kDims, dirs + r * kDims, t_begin[r], far[r], bitfield, p, [&](float a, float b) {
    ray_index[s] = r;
    t_start[s] = a;
    t_end[s] = b;
    ++s;
  });
}

__global__ void composite_forward_kernel(const float* __restrict__ sigma, const float* __restrict__ rgb,
                                         const float* __restrict__ ts, const float* __restrict__ te,
                                         const int64_t* __restrict__ first, int64_t R, float* __restrict__ colour,
                                         float* __restrict__ opacity, float* __restrict__ depth,
                                         float* __restrict__ weights) {
  const int64_t r = blockIdx.x * int64_t(blockDim.x) + threadIdx.x;
  if (r >= R) return;
  float col[kChannels] = {0.f, 0.f, 0.f};
  float op = 0.f, dp = 0.f;
  composite_ray(sigma, ts, te, first[r], first[r + 1], [&](int64_t i, const SampleTerms& terms) {
    weights[i] = terms.weight;
    op += terms.weight;
    dp += terms.weight * (0.5f * (ts[i] + te[i]));
    for (int ch = 0; ch < kChannels; ++ch) col[ch] += terms.weight * rgb[i * kChannels + ch];
  });
  opacity[r] = op;
  depth[r] = dp;
  for (int ch = 0; ch < kChannels; ++ch) colour[r * kChannels + ch] = col[ch];
}

__global__ void composite_backward_kernel(const float* __restrict__ gc, const float* __restrict__ go,
                                          const float* __restrict__ gd, const float* __restrict__ gw,
                                          const float* __restrict__ sigma, const float* __restrict__ rgb,
                                          const float* __restrict__ ts, const float* __restrict__ te,
                                          const int64_t* __restrict__ first, int64_t R, float* __restrict__ gs,
                                          float* __restrict__ grgb) {
  const int64_t r = blockIdx.x * int64_t(blockDim.x) + threadIdx.x;
  if (r >= R) return;
  // Same derivation as composite_backward_cpu (render_cpu.cpp).
  auto weight_grad = [&](int64_t i) {
    float g = gw[i] + go[r] + gd[r] * (0.5f * (ts[i] + te[i]));
    for (int ch = 0; ch < kChannels; ++ch) g += gc[r * kChannels + ch] * rgb[i * kChannels + ch];
    return g;
  };
  double later = 0.0;
  composite_ray(sigma, ts, te, first[r], first[r + 1],
                [&](int64_t i, const SampleTerms& terms) { later += double(weight_grad(i)) * terms.weight; });
  composite_ray(sigma, ts, te, first[r], first[r + 1], [&](int64_t i, const SampleTerms& terms) {
    const float g = weight_grad(i);
    later -= double(g) * terms.weight;
    const float own = terms.alive ? g * terms.transmittance * terms.survive : 0.f;
    gs[i] = static_cast<float>((double(own) - later) * double(te[i] - ts[i]));
    for (int ch = 0; ch < kChannels; ++ch) grgb[i * kChannels + ch] = terms.weight * gc[r * kChannels + ch];
  });
}

}  // namespace

std::vector<at::Tensor> march_rays_cuda(const at::Tensor& origins_in, const at::Tensor& dirs_in,
                                        const at::Tensor& t_begin_in, const at::Tensor& far_in,
                                        const at::Tensor& active_in, const at::Tensor& bitfield_in,
                                        const at::Tensor& aabb_min, const at::Tensor& cell_extent, int64_t resolution,
                                        double cone_angle, double min_step, double max_step, double nudge,
                                        int64_t max_steps) {
  check_rays(origins_in, dirs_in, t_begin_in, far_in, active_in, bitfield_in, resolution);
  TORCH_CHECK(origins_in.is_cuda(), "march (CUDA): rays must be on a CUDA device");
  const at::cuda::CUDAGuard guard(origins_in.device());
  const MarchParams p =
      make_march_params(aabb_min, cell_extent, resolution, cone_angle, min_step, max_step, nudge, max_steps);
  const auto origins = origins_in.contiguous(), dirs = dirs_in.contiguous(), t_begin = t_begin_in.contiguous();
  const auto far = far_in.contiguous(), active = active_in.contiguous(), bitfield = bitfield_in.contiguous();
  const int64_t R = origins.size(0);
  const auto stream = at::cuda::getCurrentCUDAStream();
  auto counts = at::zeros({R + 1}, origins.options().dtype(at::kLong));
  if (R > 0) {
    march_count_kernel<<<blocks_for(R), kThreads, 0, stream>>>(
        origins.data_ptr<float>(), dirs.data_ptr<float>(), t_begin.data_ptr<float>(), far.data_ptr<float>(),
        active.data_ptr<bool>(), bitfield.data_ptr<uint8_t>(), p, R, counts.data_ptr<int64_t>());
    C10_CUDA_KERNEL_LAUNCH_CHECK();
  }
  const auto first = counts.cumsum(0);
  const int64_t S = first[R].item<int64_t>();
  auto ray_index = at::empty({S}, origins.options().dtype(at::kLong));
  auto t_start = at::empty({S}, origins.options());
  auto t_end = at::empty({S}, origins.options());
  if (S > 0) {
    march_fill_kernel<<<blocks_for(R), kThreads, 0, stream>>>(
        origins.data_ptr<float>(), dirs.data_ptr<float>(), t_begin.data_ptr<float>(), far.data_ptr<float>(),
        active.data_ptr<bool>(), bitfield.data_ptr<uint8_t>(), p, R, first.data_ptr<int64_t>(),
        ray_index.data_ptr<int64_t>(), t_start.data_ptr<float>(), t_end.data_ptr<float>());
    C10_CUDA_KERNEL_LAUNCH_CHECK();
  }
  return {ray_index, t_start, t_end};
}

std::vector<at::Tensor> composite_forward_cuda(const at::Tensor& sigma_in, const at::Tensor& rgb_in,
                                               const at::Tensor& t_start_in, const at::Tensor& t_end_in,
                                               const at::Tensor& ray_start_in) {
  check_samples_for_composite(sigma_in, rgb_in, t_start_in, t_end_in, ray_start_in);
  TORCH_CHECK(sigma_in.is_cuda(), "composite (CUDA): samples must be on a CUDA device");
  const at::cuda::CUDAGuard guard(sigma_in.device());
  const auto sigma = sigma_in.contiguous(), rgb = rgb_in.contiguous();
  const auto ts = t_start_in.contiguous(), te = t_end_in.contiguous(), first = ray_start_in.contiguous();
  const int64_t R = first.numel() - 1, S = sigma.numel();
  auto colour = at::empty({R, kChannels}, sigma.options());
  auto opacity = at::empty({R}, sigma.options());
  auto depth = at::empty({R}, sigma.options());
  auto weights = at::empty({S}, sigma.options());
  if (R > 0) {
    composite_forward_kernel<<<blocks_for(R), kThreads, 0, at::cuda::getCurrentCUDAStream()>>>(
        sigma.data_ptr<float>(), rgb.data_ptr<float>(), ts.data_ptr<float>(), te.data_ptr<float>(),
        first.data_ptr<int64_t>(), R, colour.data_ptr<float>(), opacity.data_ptr<float>(), depth.data_ptr<float>(),
        weights.data_ptr<float>());
    C10_CUDA_KERNEL_LAUNCH_CHECK();
  }
  return {colour, opacity, depth, weights};
}

std::vector<at::Tensor> composite_backward_cuda(const at::Tensor& grad_colour, const at::Tensor& grad_opacity,
                                                const at::Tensor& grad_depth, const at::Tensor& grad_weights,
                                                const at::Tensor& sigma_in, const at::Tensor& rgb_in,
                                                const at::Tensor& t_start_in, const at::Tensor& t_end_in,
                                                const at::Tensor& ray_start_in) {
  check_samples_for_composite(sigma_in, rgb_in, t_start_in, t_end_in, ray_start_in);
  const at::cuda::CUDAGuard guard(sigma_in.device());
  const auto sigma = sigma_in.contiguous(), rgb = rgb_in.contiguous();
  const auto ts = t_start_in.contiguous(), te = t_end_in.contiguous(), first = ray_start_in.contiguous();
  const auto gc = grad_colour.contiguous(), go = grad_opacity.contiguous();
  const auto gd = grad_depth.contiguous(), gw = grad_weights.contiguous();
  const int64_t R = first.numel() - 1, S = sigma.numel();
  check_float_tensor(gc, {R, kChannels}, "grad_colour");
  check_float_tensor(go, {R}, "grad_opacity");
  check_float_tensor(gd, {R}, "grad_depth");
  check_float_tensor(gw, {S}, "grad_weights");
  auto grad_sigma = at::empty({S}, sigma.options());
  auto grad_rgb = at::empty({S, kChannels}, sigma.options());
  if (R > 0 && S > 0) {
    composite_backward_kernel<<<blocks_for(R), kThreads, 0, at::cuda::getCurrentCUDAStream()>>>(
        gc.data_ptr<float>(), go.data_ptr<float>(), gd.data_ptr<float>(), gw.data_ptr<float>(),
        sigma.data_ptr<float>(), rgb.data_ptr<float>(), ts.data_ptr<float>(), te.data_ptr<float>(),
        first.data_ptr<int64_t>(), R, grad_sigma.data_ptr<float>(), grad_rgb.data_ptr<float>());
    C10_CUDA_KERNEL_LAUNCH_CHECK();
  }
  return {grad_sigma, grad_rgb};
}

}  // namespace nbskit
