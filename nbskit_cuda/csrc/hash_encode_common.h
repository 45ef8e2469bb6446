// Input validation and per-level geometry shared by the CPU and CUDA hash-encoding entry points.
#pragma once

#include <ATen/ATen.h>

#include <vector>

#include "hash_grid.h"

namespace nbskit {

inline std::vector<LevelGeometry> level_geometries(const at::Tensor& offsets, const at::Tensor& scales) {
  TORCH_CHECK(offsets.dim() == 1 && offsets.scalar_type() == at::kInt,
              "hash encode: offsets must be int32 [L+1], got ", offsets.scalar_type(), " ", offsets.sizes());
  TORCH_CHECK(scales.dim() == 1 && scales.scalar_type() == at::kFloat && scales.numel() + 1 == offsets.numel(),
              "hash encode: scales must be float32 [L] with L+1 = offsets.numel(), got ", scales.sizes());
  const auto off = offsets.to(at::kCPU).contiguous();
  const auto sc = scales.to(at::kCPU).contiguous();
  const int32_t* o = off.data_ptr<int32_t>();
  const float* s = sc.data_ptr<float>();
  std::vector<LevelGeometry> levels;
  for (int64_t l = 0; l < sc.numel(); ++l) {
    TORCH_CHECK(o[l + 1] > o[l], "hash encode: offsets must increase, level ", l);
    levels.push_back(make_level_geometry(s[l], o[l], o[l + 1]));
  }
  return levels;
}

inline void check_samples(const at::Tensor& x, const at::Tensor& frame) {
  TORCH_CHECK(x.dim() == 2 && x.size(1) == kDims && x.scalar_type() == at::kFloat,
              "hash encode: x must be float32 [N,3], got ", x.scalar_type(), " ", x.sizes());
  TORCH_CHECK(frame.dim() == 1 && frame.size(0) == x.size(0) && frame.scalar_type() == at::kLong,
              "hash encode: frame must be int64 [N] with N = ", x.size(0), ", got ", frame.scalar_type(), " ",
              frame.sizes());
}

// Reading tables[frame[n]] with a bad frame index would read outside the tables (IndexError,
// like the torch reference).
inline void check_frame_range(const at::Tensor& frame, int64_t num_frames) {
  if (frame.numel() == 0) return;
  const auto [lo, hi] = at::aminmax(frame);
  TORCH_CHECK_INDEX(lo.item<int64_t>() >= 0 && hi.item<int64_t>() < num_frames, "hash encode: frame indices must lie in [0, ",
              num_frames, "), got [", lo.item<int64_t>(), ", ", hi.item<int64_t>(), "]");
}

inline void check_tables(const at::Tensor& tables, const at::Tensor& offsets, const char* name) {
  TORCH_CHECK(tables.dim() == 3, "hash encode: ", name, " must be [B,T,F], got ", tables.sizes());
  const int64_t total = offsets[-1].item<int64_t>();
  TORCH_CHECK(tables.size(1) == total, "hash encode: ", name, " has ", tables.size(1), " rows but offsets say ", total);
}

// coefficients [B, K+1] of the tables' dtype, for tables [K+1, T, F].
inline void check_coefficients(const at::Tensor& coefficients, const at::Tensor& tables) {
  TORCH_CHECK(coefficients.dim() == 2 && coefficients.size(1) == tables.size(0) &&
                  coefficients.scalar_type() == tables.scalar_type(),
              "blended encode: coefficients must be [B, K+1] = [B, ", tables.size(0), "] of the tables' dtype (",
              tables.scalar_type(), "), got ", coefficients.scalar_type(), " ", coefficients.sizes());
}

// The gradient of an encoding of N samples: [N, width] with width = L*F.
inline void check_output_grad(const at::Tensor& grad_out, int64_t N, int64_t width) {
  TORCH_CHECK(grad_out.dim() == 2 && grad_out.size(0) == N && grad_out.size(1) == width,
              "hash encode backward: grad_out must be [N, L*F] = [", N, ", ", width, "], got ", grad_out.sizes());
}

// The caller's buffer (every element is overwritten) or a fresh [N, width] tensor.
inline at::Tensor output_buffer(const c10::optional<at::Tensor>& out, int64_t N, int64_t width,
                                const at::TensorOptions& options) {
  if (!out.has_value()) return at::empty({N, width}, options);
  TORCH_CHECK(out->sizes() == at::IntArrayRef({N, width}) && out->is_contiguous() &&
                  out->scalar_type() == options.dtype().toScalarType() && out->device() == options.device(),
              "hash encode: out must be a contiguous [", N, ", ", width, "] tensor of the tables' dtype and device");
  return *out;
}

}  // namespace nbskit
