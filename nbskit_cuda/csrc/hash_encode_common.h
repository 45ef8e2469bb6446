// Input validation and per-level geometry shared by the CPU and CUDA hash-encoding entry points.
#pragma once

#include <ATen/ATen.h>

#include <vector>

#include "hash_grid.h"

namespace nbskit {

// Offsets and scales are level metadata: they live on the host (reading them from a GPU would
// make every call wait for it).
inline std::vector<LevelGeometry> level_geometries(const at::Tensor& offsets, const at::Tensor& scales) {
  TORCH_CHECK_VALUE(offsets.dim() == 1 && offsets.scalar_type() == at::kInt && offsets.is_cpu() && offsets.numel() >= 1,
                    "hash encode: offsets must be an int32 [L+1] CPU tensor, got ", offsets.scalar_type(), " ",
                    offsets.sizes(), " on ", offsets.device());
  TORCH_CHECK_VALUE(scales.dim() == 1 && scales.scalar_type() == at::kFloat && scales.is_cpu() &&
                        scales.numel() + 1 == offsets.numel(),
                    "hash encode: scales must be a float32 [L] CPU tensor with L+1 = offsets.numel(), got ",
                    scales.sizes(), " on ", scales.device());
  const auto off = offsets.contiguous();
  const auto sc = scales.contiguous();
  const int32_t* o = off.data_ptr<int32_t>();
  const float* s = sc.data_ptr<float>();
  TORCH_CHECK_VALUE(o[0] == 0, "hash encode: offsets must start at 0, got ", o[0]);
  std::vector<LevelGeometry> levels;
  for (int64_t l = 0; l < sc.numel(); ++l) {
    TORCH_CHECK_VALUE(o[l + 1] > o[l], "hash encode: offsets must increase, level ", l);
    levels.push_back(make_level_geometry(s[l], o[l], o[l + 1]));
  }
  return levels;
}

// Table rows of all levels together: the last offset (offsets checked by level_geometries).
inline int64_t total_entries(const at::Tensor& offsets) {
  return offsets.contiguous().data_ptr<int32_t>()[offsets.numel() - 1];
}

inline void check_samples(const at::Tensor& x, const at::Tensor& frame) {
  TORCH_CHECK_VALUE(x.dim() == 2 && x.size(1) == kDims && x.scalar_type() == at::kFloat,
                    "hash encode: x must be float32 [N,3], got ", x.scalar_type(), " ", x.sizes());
  TORCH_CHECK_VALUE(frame.dim() == 1 && frame.size(0) == x.size(0) && frame.scalar_type() == at::kLong,
                    "hash encode: frame must be int64 [N] with N = ", x.size(0), ", got ", frame.scalar_type(), " ",
                    frame.sizes());
  TORCH_CHECK_VALUE(frame.device() == x.device(), "hash encode: x, tables and frame must share a device; got x on ",
                    x.device(), ", frame on ", frame.device());
}

// Every tensor of an entry point on the samples' device (the level metadata excepted).
inline void check_device(const at::Tensor& t, const at::Tensor& x, const char* name) {
  TORCH_CHECK_VALUE(t.device() == x.device(), "hash encode: ", name, " is on ", t.device(), " but x on ", x.device());
}

// Reading tables[frame[n]] with a bad frame index would read outside the tables: an IndexError
// with the torch reference's message (nbskit.encoding.hashgrid.check_frame_range). On the CPU
// only: on a GPU it would wait for the device, so the CUDA kernels bound the index instead.
inline void check_frame_range_cpu(const at::Tensor& frame, int64_t num_tables) {
  if (frame.numel() == 0) return;
  const auto [lo, hi] = at::aminmax(frame);
  const int64_t low = lo.item<int64_t>(), high = hi.item<int64_t>();
  TORCH_CHECK_INDEX(low >= 0 && high < num_tables, "hash_encode: frame indices must lie in [0, ", num_tables,
                    ") (one per table); got range [", low, ", ", high, "]");
}

inline void check_tables(const at::Tensor& tables, const at::Tensor& offsets, const char* name) {
  TORCH_CHECK_VALUE(tables.dim() == 3, "hash encode: ", name, " must be [B,T,F], got ", tables.sizes());
  const int64_t total = total_entries(offsets);
  TORCH_CHECK_VALUE(tables.size(1) == total, "hash encode: ", name, " has ", tables.size(1),
                    " rows but offsets say ", total);
}

// coefficients [B, K+1] of the tables' dtype, for tables [K+1, T, F].
inline void check_coefficients(const at::Tensor& coefficients, const at::Tensor& tables) {
  TORCH_CHECK_VALUE(coefficients.dim() == 2 && coefficients.size(1) == tables.size(0) &&
                        coefficients.scalar_type() == tables.scalar_type() && coefficients.device() == tables.device(),
                    "blended encode: coefficients must be [B, K+1] = [B, ", tables.size(0),
                    "] of the tables' dtype (", tables.scalar_type(), ") and device, got ", coefficients.scalar_type(),
                    " ", coefficients.sizes(), " on ", coefficients.device());
}

// The gradient of an encoding of N samples: [N, width] with width = L*F.
inline void check_output_grad(const at::Tensor& grad_out, int64_t N, int64_t width) {
  TORCH_CHECK_VALUE(grad_out.dim() == 2 && grad_out.size(0) == N && grad_out.size(1) == width,
              "hash encode backward: grad_out must be [N, L*F] = [", N, ", ", width, "], got ", grad_out.sizes());
}

// The caller's buffer (every element is overwritten) or a fresh [N, width] tensor.
inline at::Tensor output_buffer(const c10::optional<at::Tensor>& out, int64_t N, int64_t width,
                                const at::TensorOptions& options) {
  if (!out.has_value()) return at::empty({N, width}, options);
  TORCH_CHECK_VALUE(out->sizes() == at::IntArrayRef({N, width}) && out->is_contiguous() &&
                  out->scalar_type() == options.dtype().toScalarType() && out->device() == options.device(),
              "hash encode: out must be a contiguous [", N, ", ", width, "] tensor of the tables' dtype and device");
  return *out;
}

}  // namespace nbskit
