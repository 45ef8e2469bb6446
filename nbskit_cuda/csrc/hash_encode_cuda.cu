// CUDA kernels of the blended hash encoding: one thread per (sample, level).
//
// Tables may be float32, float64 or float16 (fp16 tables and activations, fp32 coordinates and
// fp32 accumulation). Gradients are accumulated in the accumulation type with atomics; on sm_90+
// one vector atomic per corner (float4/float2) replaces F scalar ones.
#include <ATen/cuda/CUDAContext.h>
#include <ATen/OpMathType.h>
#include <c10/cuda/CUDAGuard.h>
#include <cuda_fp16.h>

#include <type_traits>

#include "hash_encode.h"
#include "hash_encode_common.h"

namespace nbskit {
namespace {

constexpr int kMaxLevels = 32;
constexpr int kThreads = 256;

// Per-level geometry passed by value as a kernel argument (no device allocation needed).
struct LevelTable {
  LevelGeometry level[kMaxLevels];
  int count;
};

LevelTable make_level_table(const at::Tensor& offsets, const at::Tensor& scales) {
  const auto levels = level_geometries(offsets, scales);
  TORCH_CHECK(static_cast<int>(levels.size()) <= kMaxLevels, "hash encode (CUDA): at most ", kMaxLevels,
              " levels, got ", levels.size());
  LevelTable table;
  table.count = static_cast<int>(levels.size());
  for (int l = 0; l < table.count; ++l) table.level[l] = levels[l];
  return table;
}

inline unsigned int blocks_for(int64_t work) { return static_cast<unsigned int>((work + kThreads - 1) / kThreads); }

template <typename T>
__device__ __forceinline__ float to_float(T v) {
  return static_cast<float>(v);
}
template <>
__device__ __forceinline__ float to_float<at::Half>(at::Half v) {
  return __half2float(static_cast<__half>(v));
}

// Adds F values to a gradient row; vector atomics where the hardware has them.
template <typename accum_t, int kF>
__device__ __forceinline__ void atomic_add_row(accum_t* row, const accum_t* values, int features) {
#if defined(__CUDA_ARCH__) && __CUDA_ARCH__ >= 900
  if constexpr (std::is_same<accum_t, float>::value && kF == 4) {
    atomicAdd(reinterpret_cast<float4*>(row), make_float4(values[0], values[1], values[2], values[3]));
  } else if constexpr (std::is_same<accum_t, float>::value && kF == 2) {
    atomicAdd(reinterpret_cast<float2*>(row), make_float2(values[0], values[1]));
  } else {
    for (int f = 0; f < features; ++f) atomicAdd(row + f, values[f]);
  }
#else
  for (int f = 0; f < features; ++f) atomicAdd(row + f, values[f]);
#endif
}

// Fixed F (unrolled, vector atomics) for the common cases, run-time F otherwise.
constexpr int kMaxFeatures = 8;
#define NBSKIT_DISPATCH_FEATURES(F, ...)              \
  switch (F) {                                        \
    case 2: { constexpr int kF = 2; __VA_ARGS__(); break; } \
    case 4: { constexpr int kF = 4; __VA_ARGS__(); break; } \
    case 8: { constexpr int kF = 8; __VA_ARGS__(); break; } \
    default: { constexpr int kF = 0; __VA_ARGS__(); break; } \
  }

template <typename scalar_t, typename accum_t, int kF>
__global__ void lookup_forward_kernel(const float* __restrict__ x, const scalar_t* __restrict__ tables,
                                      const int64_t* __restrict__ frame, LevelTable levels, int64_t N, int64_t T,
                                      int features, scalar_t* __restrict__ out) {
  const int F = kF > 0 ? kF : features;
  const int64_t item = blockIdx.x * int64_t(blockDim.x) + threadIdx.x;
  if (item >= N * levels.count) return;
  const int64_t n = item / levels.count;
  const int l = static_cast<int>(item % levels.count);
  scalar_t* o = out + (n * levels.count + l) * F;
  const float p[kDims] = {x[n * kDims], x[n * kDims + 1], x[n * kDims + 2]};
  accum_t acc[kF > 0 ? kF : kMaxFeatures] = {};
  if (inside_unit_cube(p[0], p[1], p[2])) {
    CellCorners corners;
    cell_corners(p, levels.level[l], corners);
    const scalar_t* table = tables + frame[n] * T * F;
    for (int c = 0; c < kCorners; ++c) {
      const scalar_t* row = table + int64_t(corners.row[c]) * F;
      for (int f = 0; f < F; ++f) acc[f] += accum_t(corners.weight[c]) * accum_t(to_float(row[f]));
    }
  }
  for (int f = 0; f < F; ++f) o[f] = static_cast<scalar_t>(acc[f]);
}

template <typename scalar_t, typename accum_t, int kF>
__global__ void lookup_backward_kernel(const scalar_t* __restrict__ grad_out, const float* __restrict__ x,
                                       const int64_t* __restrict__ frame, LevelTable levels, int64_t N, int64_t T,
                                       int features, accum_t* __restrict__ grad) {
  const int F = kF > 0 ? kF : features;
  const int64_t item = blockIdx.x * int64_t(blockDim.x) + threadIdx.x;
  if (item >= N * levels.count) return;
  const int64_t n = item / levels.count;
  const int l = static_cast<int>(item % levels.count);
  const float p[kDims] = {x[n * kDims], x[n * kDims + 1], x[n * kDims + 2]};
  if (!inside_unit_cube(p[0], p[1], p[2])) return;
  const scalar_t* g = grad_out + (n * levels.count + l) * F;
  accum_t gl[kF > 0 ? kF : kMaxFeatures];
  for (int f = 0; f < F; ++f) gl[f] = accum_t(to_float(g[f]));
  CellCorners corners;
  cell_corners(p, levels.level[l], corners);
  accum_t* table = grad + frame[n] * T * F;
  for (int c = 0; c < kCorners; ++c) {
    accum_t contribution[kF > 0 ? kF : kMaxFeatures];
    for (int f = 0; f < F; ++f) contribution[f] = accum_t(corners.weight[c]) * gl[f];
    atomic_add_row<accum_t, kF>(table + int64_t(corners.row[c]) * F, contribution, F);
  }
}

// grad_tables[k, j] = sum_b coefficients[b, k] * grad_blended[b, j]; one thread per (k, j).
template <typename scalar_t, typename accum_t>
__global__ void blend_backward_kernel(const accum_t* __restrict__ grad_blended, const scalar_t* __restrict__ coefficients,
                                      int64_t B, int64_t K1, int64_t values, scalar_t* __restrict__ grad_tables) {
  const int64_t item = blockIdx.x * int64_t(blockDim.x) + threadIdx.x;
  if (item >= K1 * values) return;
  const int64_t k = item / values, j = item % values;
  accum_t sum = 0;
  for (int64_t b = 0; b < B; ++b) sum += accum_t(to_float(coefficients[b * K1 + k])) * grad_blended[b * values + j];
  grad_tables[item] = static_cast<scalar_t>(sum);
}

template <typename scalar_t, typename accum_t, int kF>
__global__ void fused_forward_kernel(const float* __restrict__ x, const scalar_t* __restrict__ tables,
                                     const scalar_t* __restrict__ coefficients, const int64_t* __restrict__ frame,
                                     LevelTable levels, int64_t N, int64_t K1, int64_t T, int features,
                                     scalar_t* __restrict__ out) {
  const int F = kF > 0 ? kF : features;
  const int64_t item = blockIdx.x * int64_t(blockDim.x) + threadIdx.x;
  if (item >= N * levels.count) return;
  const int64_t n = item / levels.count;
  const int l = static_cast<int>(item % levels.count);
  scalar_t* o = out + (n * levels.count + l) * F;
  const float p[kDims] = {x[n * kDims], x[n * kDims + 1], x[n * kDims + 2]};
  accum_t acc[kF > 0 ? kF : kMaxFeatures] = {};
  if (inside_unit_cube(p[0], p[1], p[2])) {
    CellCorners corners;
    cell_corners(p, levels.level[l], corners);
    const scalar_t* coef = coefficients + frame[n] * K1;
    for (int64_t k = 0; k < K1; ++k) {
      const scalar_t* table = tables + k * T * F;
      const accum_t ck = accum_t(to_float(coef[k]));
      for (int c = 0; c < kCorners; ++c) {
        const accum_t wc = ck * accum_t(corners.weight[c]);
        const scalar_t* row = table + int64_t(corners.row[c]) * F;
        for (int f = 0; f < F; ++f) acc[f] += wc * accum_t(to_float(row[f]));
      }
    }
  }
  for (int f = 0; f < F; ++f) o[f] = static_cast<scalar_t>(acc[f]);
}

template <typename scalar_t, typename accum_t, int kF>
__global__ void fused_backward_kernel(const scalar_t* __restrict__ grad_out, const float* __restrict__ x,
                                      const scalar_t* __restrict__ tables, const scalar_t* __restrict__ coefficients,
                                      const int64_t* __restrict__ frame, LevelTable levels, int64_t N, int64_t K1,
                                      int64_t T, int features, accum_t* __restrict__ grad_tables,
                                      accum_t* __restrict__ grad_coefficients) {
  const int F = kF > 0 ? kF : features;
  const int64_t item = blockIdx.x * int64_t(blockDim.x) + threadIdx.x;
  if (item >= N * levels.count) return;
  const int64_t n = item / levels.count;
  const int l = static_cast<int>(item % levels.count);
  const float p[kDims] = {x[n * kDims], x[n * kDims + 1], x[n * kDims + 2]};
  if (!inside_unit_cube(p[0], p[1], p[2])) return;
  const scalar_t* g = grad_out + (n * levels.count + l) * F;
  accum_t gl[kF > 0 ? kF : kMaxFeatures];
  for (int f = 0; f < F; ++f) gl[f] = accum_t(to_float(g[f]));
  CellCorners corners;
  cell_corners(p, levels.level[l], corners);
  const int64_t b = frame[n];
  for (int64_t k = 0; k < K1; ++k) {
    const accum_t ck = accum_t(to_float(coefficients[b * K1 + k]));
    accum_t dot = 0;
    for (int c = 0; c < kCorners; ++c) {
      const int64_t row = (k * T + corners.row[c]) * F;
      accum_t contribution[kF > 0 ? kF : kMaxFeatures];
      for (int f = 0; f < F; ++f) {
        contribution[f] = ck * accum_t(corners.weight[c]) * gl[f];
        dot += accum_t(corners.weight[c]) * gl[f] * accum_t(to_float(tables[row + f]));
      }
      atomic_add_row<accum_t, kF>(grad_tables + row, contribution, F);
    }
    if (grad_coefficients) atomicAdd(grad_coefficients + b * K1 + k, dot);
  }
}

void check_cuda(const at::Tensor& t, const char* name) {
  TORCH_CHECK(t.is_cuda(), "hash encode (CUDA): ", name, " must be on a CUDA device");
}

at::ScalarType accum_type(at::ScalarType dtype) { return dtype == at::kDouble ? at::kDouble : at::kFloat; }

}  // namespace

at::Tensor hash_encode_forward_cuda(const at::Tensor& x_in, const at::Tensor& tables_in, const at::Tensor& frame_in,
                                    const at::Tensor& offsets, const at::Tensor& scales,
                                    const c10::optional<at::Tensor>& out_opt) {
  check_samples(x_in, frame_in);
  check_tables(tables_in, offsets, "tables");
  check_cuda(x_in, "x");
  check_cuda(tables_in, "tables");
  check_frame_range(frame_in, tables_in.size(0));
  const at::cuda::CUDAGuard guard(x_in.device());
  const LevelTable levels = make_level_table(offsets, scales);
  const auto x = x_in.contiguous(), tables = tables_in.contiguous(), frame = frame_in.contiguous();
  const int64_t N = x.size(0), T = tables.size(1);
  const int F = static_cast<int>(tables.size(2));
  TORCH_CHECK(F <= kMaxFeatures, "hash encode (CUDA): at most ", kMaxFeatures, " features per entry");
  auto out = output_buffer(out_opt, N, int64_t(levels.count) * F, tables.options());
  if (N == 0) return out;
  const auto stream = at::cuda::getCurrentCUDAStream();
  AT_DISPATCH_FLOATING_TYPES_AND_HALF(tables.scalar_type(), "hash_encode_forward_cuda", [&] {
    using accum_t = at::opmath_type<scalar_t>;
    NBSKIT_DISPATCH_FEATURES(F, [&] {
      lookup_forward_kernel<scalar_t, accum_t, kF><<<blocks_for(N * levels.count), kThreads, 0, stream>>>(
          x.data_ptr<float>(), tables.data_ptr<scalar_t>(), frame.data_ptr<int64_t>(), levels, N, T, F,
          out.data_ptr<scalar_t>());
    });
  });
  C10_CUDA_KERNEL_LAUNCH_CHECK();
  return out;
}

at::Tensor hash_encode_backward_cuda(const at::Tensor& grad_out_in, const at::Tensor& x_in, const at::Tensor& frame_in,
                                     const at::Tensor& offsets, const at::Tensor& scales, int64_t num_tables,
                                     int64_t features) {
  check_samples(x_in, frame_in);
  check_cuda(grad_out_in, "grad_out");
  const at::cuda::CUDAGuard guard(x_in.device());
  const LevelTable levels = make_level_table(offsets, scales);
  const auto x = x_in.contiguous(), frame = frame_in.contiguous(), grad_out = grad_out_in.contiguous();
  const int64_t N = x.size(0), T = offsets[-1].item<int64_t>();
  const int F = static_cast<int>(features);
  TORCH_CHECK(grad_out.dim() == 2 && grad_out.size(0) == N && grad_out.size(1) == int64_t(levels.count) * F,
              "hash encode backward (CUDA): grad_out must be [N, L*F]");
  auto grad = at::zeros({num_tables, T, features}, grad_out.options().dtype(accum_type(grad_out.scalar_type())));
  if (N > 0) {
    const auto stream = at::cuda::getCurrentCUDAStream();
    AT_DISPATCH_FLOATING_TYPES_AND_HALF(grad_out.scalar_type(), "hash_encode_backward_cuda", [&] {
      using accum_t = at::opmath_type<scalar_t>;
      NBSKIT_DISPATCH_FEATURES(F, [&] {
        lookup_backward_kernel<scalar_t, accum_t, kF><<<blocks_for(N * levels.count), kThreads, 0, stream>>>(
            grad_out.data_ptr<scalar_t>(), x.data_ptr<float>(), frame.data_ptr<int64_t>(), levels, N, T, F,
            grad.data_ptr<accum_t>());
      });
    });
    C10_CUDA_KERNEL_LAUNCH_CHECK();
  }
  // Stays in the accumulation type: blend_backward reads it and writes the tables' dtype.
  return grad;
}

at::Tensor blend_backward_cuda(const at::Tensor& grad_blended_in, const at::Tensor& coefficients_in) {
  TORCH_CHECK(grad_blended_in.dim() == 3 && coefficients_in.dim() == 2 &&
                  coefficients_in.size(0) == grad_blended_in.size(0),
              "blend backward (CUDA): expected grad_blended [B,T,F] and coefficients [B,K+1]");
  check_cuda(grad_blended_in, "grad_blended");
  const at::cuda::CUDAGuard guard(grad_blended_in.device());
  const auto coefficients = coefficients_in.contiguous();
  const auto grad_blended = grad_blended_in.to(accum_type(coefficients.scalar_type())).contiguous();
  const int64_t B = coefficients.size(0), K1 = coefficients.size(1);
  const int64_t values = grad_blended.size(1) * grad_blended.size(2);
  auto grad_tables = at::empty({K1, grad_blended.size(1), grad_blended.size(2)}, coefficients.options());
  if (K1 * values == 0) return grad_tables;
  AT_DISPATCH_FLOATING_TYPES_AND_HALF(coefficients.scalar_type(), "blend_backward_cuda", [&] {
    using accum_t = at::opmath_type<scalar_t>;
    blend_backward_kernel<scalar_t, accum_t><<<blocks_for(K1 * values), kThreads, 0, at::cuda::getCurrentCUDAStream()>>>(
        grad_blended.data_ptr<accum_t>(), coefficients.data_ptr<scalar_t>(), B, K1, values,
        grad_tables.data_ptr<scalar_t>());
  });
  C10_CUDA_KERNEL_LAUNCH_CHECK();
  return grad_tables;
}

at::Tensor blended_encode_forward_cuda(const at::Tensor& x_in, const at::Tensor& tables_in,
                                       const at::Tensor& coefficients_in, const at::Tensor& frame_in,
                                       const at::Tensor& offsets, const at::Tensor& scales,
                                       const c10::optional<at::Tensor>& out_opt) {
  check_samples(x_in, frame_in);
  check_tables(tables_in, offsets, "tables");
  check_cuda(x_in, "x");
  TORCH_CHECK(coefficients_in.dim() == 2 && coefficients_in.size(1) == tables_in.size(0) &&
                  coefficients_in.scalar_type() == tables_in.scalar_type(),
              "blended encode (CUDA): coefficients must be [B, K+1] of the tables' dtype");
  check_frame_range(frame_in, coefficients_in.size(0));
  const at::cuda::CUDAGuard guard(x_in.device());
  const LevelTable levels = make_level_table(offsets, scales);
  const auto x = x_in.contiguous(), tables = tables_in.contiguous(), frame = frame_in.contiguous();
  const auto coefficients = coefficients_in.contiguous();
  const int64_t N = x.size(0), K1 = tables.size(0), T = tables.size(1);
  const int F = static_cast<int>(tables.size(2));
  TORCH_CHECK(F <= kMaxFeatures, "hash encode (CUDA): at most ", kMaxFeatures, " features per entry");
  auto out = output_buffer(out_opt, N, int64_t(levels.count) * F, tables.options());
  if (N == 0) return out;
  AT_DISPATCH_FLOATING_TYPES_AND_HALF(tables.scalar_type(), "blended_encode_forward_cuda", [&] {
    using accum_t = at::opmath_type<scalar_t>;
    NBSKIT_DISPATCH_FEATURES(F, [&] {
      fused_forward_kernel<scalar_t, accum_t, kF>
          <<<blocks_for(N * levels.count), kThreads, 0, at::cuda::getCurrentCUDAStream()>>>(
              x.data_ptr<float>(), tables.data_ptr<scalar_t>(), coefficients.data_ptr<scalar_t>(),
              frame.data_ptr<int64_t>(), levels, N, K1, T, F, out.data_ptr<scalar_t>());
    });
  });
  C10_CUDA_KERNEL_LAUNCH_CHECK();
  return out;
}

std::vector<at::Tensor> blended_encode_backward_cuda(const at::Tensor& grad_out_in, const at::Tensor& x_in,
                                                     const at::Tensor& tables_in, const at::Tensor& coefficients_in,
                                                     const at::Tensor& frame_in, const at::Tensor& offsets,
                                                     const at::Tensor& scales, bool need_coefficient_grad) {
  check_samples(x_in, frame_in);
  check_cuda(grad_out_in, "grad_out");
  const at::cuda::CUDAGuard guard(x_in.device());
  const LevelTable levels = make_level_table(offsets, scales);
  const auto x = x_in.contiguous(), tables = tables_in.contiguous(), frame = frame_in.contiguous();
  const auto coefficients = coefficients_in.contiguous(), grad_out = grad_out_in.contiguous();
  const int64_t N = x.size(0), K1 = tables.size(0), T = tables.size(1), B = coefficients.size(0);
  const int F = static_cast<int>(tables.size(2));
  const auto accum_options = tables.options().dtype(accum_type(tables.scalar_type()));
  auto grad_tables = at::zeros(tables.sizes(), accum_options);
  auto grad_coefficients = need_coefficient_grad ? at::zeros({B, K1}, accum_options) : at::Tensor();
  if (N > 0) {
    AT_DISPATCH_FLOATING_TYPES_AND_HALF(tables.scalar_type(), "blended_encode_backward_cuda", [&] {
      using accum_t = at::opmath_type<scalar_t>;
      NBSKIT_DISPATCH_FEATURES(F, [&] {
        fused_backward_kernel<scalar_t, accum_t, kF>
            <<<blocks_for(N * levels.count), kThreads, 0, at::cuda::getCurrentCUDAStream()>>>(
                grad_out.data_ptr<scalar_t>(), x.data_ptr<float>(), tables.data_ptr<scalar_t>(),
                coefficients.data_ptr<scalar_t>(), frame.data_ptr<int64_t>(), levels, N, K1, T, F,
                grad_tables.data_ptr<accum_t>(),
                need_coefficient_grad ? grad_coefficients.data_ptr<accum_t>() : nullptr);
      });
    });
    C10_CUDA_KERNEL_LAUNCH_CHECK();
  }
  return {grad_tables.to(tables.scalar_type()),
          need_coefficient_grad ? grad_coefficients.to(tables.scalar_type()) : at::Tensor()};
}

}  // namespace nbskit
