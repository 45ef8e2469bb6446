// C++ (at::parallel_for) marching and compositing kernels; one ray per work unit.
#include <ATen/Parallel.h>

#include "render.h"
#include "render_common.h"

namespace nbskit {
namespace {
constexpr int64_t kRayGrain = 256;  // rays per work item
}

std::vector<at::Tensor> march_rays_cpu(const at::Tensor& origins_in, const at::Tensor& dirs_in,
                                       const at::Tensor& t_begin_in, const at::Tensor& far_in,
                                       const at::Tensor& active_in, const at::Tensor& bitfield_in,
                                       const at::Tensor& aabb_min, const at::Tensor& cell_extent, int64_t resolution,
                                       double cone_angle, double min_step, double max_step, double nudge,
                                       int64_t max_steps) {
  check_rays(origins_in, dirs_in, t_begin_in, far_in, active_in, bitfield_in, resolution);
  const MarchParams p =
      make_march_params(aabb_min, cell_extent, resolution, cone_angle, min_step, max_step, nudge, max_steps);
  const auto origins = origins_in.contiguous(), dirs = dirs_in.contiguous(), t_begin = t_begin_in.contiguous();
  const auto far = far_in.contiguous(), active = active_in.contiguous(), bitfield = bitfield_in.contiguous();
  const int64_t R = origins.size(0);
  const float* o = origins.data_ptr<float>();
  const float* d = dirs.data_ptr<float>();
  const float* t0 = t_begin.data_ptr<float>();
  const float* f = far.data_ptr<float>();
  const bool* act = active.data_ptr<bool>();
  const uint8_t* bits = bitfield.data_ptr<uint8_t>();

  // Pass 1 counts the samples of every ray, pass 2 writes them at their packed offsets.
  auto counts = at::zeros({R + 1}, at::kLong);
  int64_t* count = counts.data_ptr<int64_t>();
  at::parallel_for(0, R, kRayGrain, [&](int64_t begin, int64_t end) {
    for (int64_t r = begin; r < end; ++r) {
      if (act[r]) count[r + 1] = march_ray(o + r * kDims, d + r * kDims, t0[r], f[r], bits, p, [](float, float) {});
    }
  });
  const auto offsets = counts.cumsum(0);
  const int64_t S = offsets[R].item<int64_t>();
  const int64_t* first = offsets.data_ptr<int64_t>();
  auto ray_index = at::empty({S}, at::kLong);
  auto t_start = at::empty({S}, at::kFloat);
  auto t_end = at::empty({S}, at::kFloat);
  int64_t* ri = ray_index.data_ptr<int64_t>();
  float* ts = t_start.data_ptr<float>();
  float* te = t_end.data_ptr<float>();
  at::parallel_for(0, R, kRayGrain, [&](int64_t begin, int64_t end) {
    for (int64_t r = begin; r < end; ++r) {
      if (!act[r]) continue;
      int64_t s = first[r];
      march_ray(o + r * kDims, d + r * kDims, t0[r], f[r], bits, p, [&](float a, float b) {
        ri[s] = r;
        ts[s] = a;
        te[s] = b;
        ++s;
      });
    }
  });
  return {ray_index, t_start, t_end};
}

std::vector<at::Tensor> composite_forward_cpu(const at::Tensor& sigma_in, const at::Tensor& rgb_in,
                                              const at::Tensor& t_start_in, const at::Tensor& t_end_in,
                                              const at::Tensor& ray_start_in) {
  check_samples_for_composite(sigma_in, rgb_in, t_start_in, t_end_in, ray_start_in);
  const auto sigma = sigma_in.contiguous(), rgb = rgb_in.contiguous();
  const auto t_start = t_start_in.contiguous(), t_end = t_end_in.contiguous(), ray_start = ray_start_in.contiguous();
  const int64_t R = ray_start.numel() - 1, S = sigma.numel();
  auto colour = at::zeros({R, kChannels}, sigma.options());
  auto opacity = at::zeros({R}, sigma.options());
  auto depth = at::zeros({R}, sigma.options());
  auto weights = at::zeros({S}, sigma.options());
  const float* sg = sigma.data_ptr<float>();
  const float* c = rgb.data_ptr<float>();
  const float* ts = t_start.data_ptr<float>();
  const float* te = t_end.data_ptr<float>();
  const int64_t* first = ray_start.data_ptr<int64_t>();
  float* col = colour.data_ptr<float>();
  float* op = opacity.data_ptr<float>();
  float* dp = depth.data_ptr<float>();
  float* w = weights.data_ptr<float>();
  at::parallel_for(0, R, kRayGrain, [&](int64_t begin, int64_t end) {
    for (int64_t r = begin; r < end; ++r) {
      composite_ray(sg, ts, te, first[r], first[r + 1], [&](int64_t i, const SampleTerms& terms) {
        const float t_mid = 0.5f * (ts[i] + te[i]);
        w[i] = terms.weight;
        op[r] += terms.weight;
        dp[r] += terms.weight * t_mid;
        for (int ch = 0; ch < kChannels; ++ch) col[r * kChannels + ch] += terms.weight * c[i * kChannels + ch];
      });
    }
  });
  return {colour, opacity, depth, weights};
}

std::vector<at::Tensor> composite_backward_cpu(const at::Tensor& grad_colour_in, const at::Tensor& grad_opacity_in,
                                               const at::Tensor& grad_depth_in, const at::Tensor& grad_weights_in,
                                               const at::Tensor& sigma_in, const at::Tensor& rgb_in,
                                               const at::Tensor& t_start_in, const at::Tensor& t_end_in,
                                               const at::Tensor& ray_start_in) {
  check_samples_for_composite(sigma_in, rgb_in, t_start_in, t_end_in, ray_start_in);
  const auto sigma = sigma_in.contiguous(), rgb = rgb_in.contiguous();
  const auto t_start = t_start_in.contiguous(), t_end = t_end_in.contiguous(), ray_start = ray_start_in.contiguous();
  const auto g_col = grad_colour_in.contiguous(), g_op = grad_opacity_in.contiguous();
  const auto g_dp = grad_depth_in.contiguous(), g_w = grad_weights_in.contiguous();
  const int64_t R = ray_start.numel() - 1, S = sigma.numel();
  check_float_tensor(g_col, {R, kChannels}, "grad_colour");
  check_float_tensor(g_op, {R}, "grad_opacity");
  check_float_tensor(g_dp, {R}, "grad_depth");
  check_float_tensor(g_w, {S}, "grad_weights");
  auto grad_sigma = at::zeros({S}, sigma.options());
  auto grad_rgb = at::zeros({S, kChannels}, sigma.options());
  const float* sg = sigma.data_ptr<float>();
  const float* c = rgb.data_ptr<float>();
  const float* ts = t_start.data_ptr<float>();
  const float* te = t_end.data_ptr<float>();
  const int64_t* first = ray_start.data_ptr<int64_t>();
  const float* gc = g_col.data_ptr<float>();
  const float* go = g_op.data_ptr<float>();
  const float* gd = g_dp.data_ptr<float>();
  const float* gw = g_w.data_ptr<float>();
  float* gs = grad_sigma.data_ptr<float>();
  float* grgb = grad_rgb.data_ptr<float>();
  at::parallel_for(0, R, kRayGrain, [&](int64_t begin, int64_t end) {
    for (int64_t r = begin; r < end; ++r) {
      // dL/dw_i: every output is linear in the weights.
      auto weight_grad = [&](int64_t i) {
        float g = gw[i] + go[r] + gd[r] * 0.5f * (ts[i] + te[i]);
        for (int ch = 0; ch < kChannels; ++ch) g += gc[r * kChannels + ch] * c[i * kChannels + ch];
        return g;
      };
      // w_i depends on tau_k for k <= i: dw_i/dtau_k = -w_i (k < i), T_i (1 - alpha_i) alive (k = i).
      // So dL/dtau_k = g_k T_k survive_k alive_k - sum_{i>k} g_i w_i: one pass for the total of
      // g_i w_i, a second that peels it off sample by sample.
      double later = 0.0;
      composite_ray(sg, ts, te, first[r], first[r + 1],
                    [&](int64_t i, const SampleTerms& terms) { later += double(weight_grad(i)) * terms.weight; });
      composite_ray(sg, ts, te, first[r], first[r + 1], [&](int64_t i, const SampleTerms& terms) {
        const float g = weight_grad(i);
        later -= double(g) * terms.weight;
        const float own = terms.alive ? g * terms.transmittance * terms.survive : 0.f;
        gs[i] = static_cast<float>((double(own) - later) * double(te[i] - ts[i]));
        for (int ch = 0; ch < kChannels; ++ch) grgb[i * kChannels + ch] = terms.weight * gc[r * kChannels + ch];
      });
    }
  });
  return {grad_sigma, grad_rgb};
}

}  // namespace nbskit
