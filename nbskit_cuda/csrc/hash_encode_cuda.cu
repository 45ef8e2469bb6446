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

// One value per feature of a table row: kF of them when F is fixed at compile time, else room for
// the largest run-time F.
template <typename T, int kF>
using RowValues = T[kF > 0 ? kF : kMaxFeatures];

// This thread's work item, sample n at level l (item = n * levels + l); false past the last one.
__device__ __forceinline__ bool thread_sample_level(int64_t N, int levels, int64_t& n, int& l) {
  const int64_t item = blockIdx.x * int64_t(blockDim.x) + threadIdx.x;
  if (item >= N * levels) return false;
  n = item / levels;
  l = static_cast<int>(item % levels);
  return true;
}

// Rows and weights of the 8 corners around sample n at one level; false (and corners left unset)
// for a sample outside the unit cube, which encodes to zeros and receives no gradient.
__device__ __forceinline__ bool sample_corners(const float* x, int64_t n, const LevelGeometry& level,
                                               CellCorners& corners) {
  const float p[kDims] = {x[n * kDims], x[n * kDims + 1], x[n * kDims + 2]};
  if (!inside_unit_cube(p[0], p[1], p[2])) return false;
  cell_corners(p, level, corners);
  return true;
}

// Samples whose frame index is outside [0, num_frames): the host does not check the indices (that
// would wait for the device; NBSKIT_CHECK_INPUTS=1 checks them before the launch), so the kernels
// never read or write through a bad one. They encode to NaN, which any loss makes visible, and
// receive no gradient.
__device__ __forceinline__ bool frame_in_range(const int64_t* frame, int64_t n, int64_t num_frames) {
  return frame[n] >= 0 && frame[n] < num_frames;
}

// Writes out[n, l*F : (l+1)*F] for this thread's sample n and level l: zeros outside the unit
// cube, NaN for a frame index out of range, else what add_corners(n, corners, acc) accumulates
// into the zeroed acc (F values).
template <typename scalar_t, typename accum_t, int kF, typename AddCorners>
__device__ __forceinline__ void encode_thread_item(const float* x, const int64_t* frame, int64_t num_frames,
                                                   const LevelTable& levels, int64_t N, int F, scalar_t* out,
                                                   AddCorners&& add_corners) {
  int64_t n;
  int l;
  if (!thread_sample_level(N, levels.count, n, l)) return;
  RowValues<accum_t, kF> acc = {};
  CellCorners corners;
  const bool valid = frame_in_range(frame, n, num_frames);
  if (valid && sample_corners(x, n, levels.level[l], corners)) add_corners(n, corners, acc);
  scalar_t* o = out + (n * levels.count + l) * F;
  for (int f = 0; f < F; ++f) o[f] = static_cast<scalar_t>(valid ? acc[f] : accum_t(NAN));
}

// For this thread's sample n and level l, if the sample lies inside the unit cube and its frame
// index in range, calls scatter(n, corners, g) with g = grad_out[n, l*F : (l+1)*F] in the
// accumulation type.
template <typename scalar_t, typename accum_t, int kF, typename Scatter>
__device__ __forceinline__ void scatter_thread_item(const scalar_t* grad_out, const float* x, const int64_t* frame,
                                                    int64_t num_frames, const LevelTable& levels, int64_t N, int F,
                                                    Scatter&& scatter) {
  int64_t n;
  int l;
  CellCorners corners;
  if (!thread_sample_level(N, levels.count, n, l) || !frame_in_range(frame, n, num_frames) ||
      !sample_corners(x, n, levels.level[l], corners)) {
    return;
  }
  const scalar_t* g_out = grad_out + (n * levels.count + l) * F;
  RowValues<accum_t, kF> g;
  for (int f = 0; f < F; ++f) g[f] = accum_t(to_float(g_out[f]));
  scatter(n, corners, g);
}

template <typename scalar_t, typename accum_t, int kF>
__global__ void lookup_forward_kernel(const float* __restrict__ x, const scalar_t* __restrict__ tables,
                                      const int64_t* __restrict__ frame, int64_t B, LevelTable levels, int64_t N,
                                      int64_t T, int features, scalar_t* __restrict__ out) {
  const int F = kF > 0 ? kF : features;
  auto add_corners = [&](int64_t n, const CellCorners& corners, accum_t* acc) {
    const scalar_t* table = tables + frame[n] * T * F;
    for (int c = 0; c < kCorners; ++c) {
      const scalar_t* row = table + int64_t(corners.row[c]) * F;
      for (int f = 0; f < F; ++f) acc[f] += accum_t(corners.weight[c]) * accum_t(to_float(row[f]));
    }
  };
  encode_thread_item<scalar_t, accum_t, kF>(x, frame, B, levels, N, F, out, add_corners);
}

template <typename scalar_t, typename accum_t, int kF>
__global__ void lookup_backward_kernel(const scalar_t* __restrict__ grad_out, const float* __restrict__ x,
                                       const int64_t* __restrict__ frame, int64_t B, LevelTable levels, int64_t N,
                                       int64_t T, int features, accum_t* __restrict__ grad) {
  const int F = kF > 0 ? kF : features;
  auto scatter = [&](int64_t n, const CellCorners& corners, const accum_t* gl) {
    accum_t* table = grad + frame[n] * T * F;
    for (int c = 0; c < kCorners; ++c) {
      RowValues<accum_t, kF> contribution;
      for (int f = 0; f < F; ++f) contribution[f] = accum_t(corners.weight[c]) * gl[f];
      atomic_add_row<accum_t, kF>(table + int64_t(corners.row[c]) * F, contribution, F);
    }
  };
  scatter_thread_item<scalar_t, accum_t, kF>(grad_out, x, frame, B, levels, N, F, scatter);
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
                                     int64_t B, LevelTable levels, int64_t N, int64_t K1, int64_t T, int features,
                                     scalar_t* __restrict__ out) {
  const int F = kF > 0 ? kF : features;
  auto add_corners = [&](int64_t n, const CellCorners& corners, accum_t* acc) {
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
  };
  encode_thread_item<scalar_t, accum_t, kF>(x, frame, B, levels, N, F, out, add_corners);
}

template <typename scalar_t, typename accum_t, int kF>
__global__ void fused_backward_kernel(const scalar_t* __restrict__ grad_out, const float* __restrict__ x,
                                      const scalar_t* __restrict__ tables, const scalar_t* __restrict__ coefficients,
                                      const int64_t* __restrict__ frame, int64_t B, LevelTable levels, int64_t N,
                                      int64_t K1, int64_t T, int features, accum_t* __restrict__ grad_tables,
                                      accum_t* __restrict__ grad_coefficients) {
  const int F = kF > 0 ? kF : features;
  auto scatter = [&](int64_t n, const CellCorners& corners, const accum_t* gl) {
    const int64_t b = frame[n];
    for (int64_t k = 0; k < K1; ++k) {
      const accum_t ck = accum_t(to_float(coefficients[b * K1 + k]));
      accum_t dot = 0;
      for (int c = 0; c < kCorners; ++c) {
        const int64_t row = (k * T + corners.row[c]) * F;
        RowValues<accum_t, kF> contribution;
        for (int f = 0; f < F; ++f) {
          contribution[f] = ck * accum_t(corners.weight[c]) * gl[f];
          dot += accum_t(corners.weight[c]) * gl[f] * accum_t(to_float(tables[row + f]));
        }
        atomic_add_row<accum_t, kF>(grad_tables + row, contribution, F);
      }
      if (grad_coefficients) atomicAdd(grad_coefficients + b * K1 + k, dot);
    }
  };
  scatter_thread_item<scalar_t, accum_t, kF>(grad_out, x, frame, B, levels, N, F, scatter);
}

void check_cuda(const at::Tensor& t, const char* name) {
  TORCH_CHECK_VALUE(t.is_cuda(), "hash encode (CUDA): ", name, " must be on a CUDA device, got ", t.device());
}

void check_features(int64_t features) {
  TORCH_CHECK_VALUE(features >= 1 && features <= kMaxFeatures, "hash encode (CUDA): at most ", kMaxFeatures, " features per entry, got ",
              features);
}

// The checks of both forward entry points (the frame range depends on what frame indexes).
void check_forward_inputs(const at::Tensor& x, const at::Tensor& tables, const at::Tensor& frame,
                          const at::Tensor& offsets) {
  check_samples(x, frame);
  check_tables(tables, offsets, "tables");
  check_cuda(x, "x");
  check_device(tables, x, "tables");
  check_features(tables.size(2));
}

// The checks of both backward entry points: grad_out [N, L*F] on the GPU (offsets [L+1]).
void check_backward_inputs(const at::Tensor& grad_out, const at::Tensor& x, const at::Tensor& frame,
                           const at::Tensor& offsets, int64_t features) {
  check_samples(x, frame);
  check_cuda(x, "x");
  check_device(grad_out, x, "grad_out");
  check_features(features);
  check_output_grad(grad_out, x.size(0), (offsets.numel() - 1) * features);
}

at::ScalarType accum_type(at::ScalarType dtype) { return dtype == at::kDouble ? at::kDouble : at::kFloat; }

// What every lookup entry point launches with, once its inputs are checked: the samples' device
// made current (for as long as this lives), the samples made contiguous, the per-level geometry,
// and one thread per (sample, level) on the current stream.
struct SampleLaunch {
  SampleLaunch(const at::Tensor& x_in, const at::Tensor& frame_in, const at::Tensor& offsets, const at::Tensor& scales)
      : guard(x_in.device()),
        x(x_in.contiguous()),
        frame(frame_in.contiguous()),
        N(x.size(0)),
        levels(make_level_table(offsets, scales)),
        blocks(blocks_for(N * levels.count)),
        stream(at::cuda::getCurrentCUDAStream()) {}

  at::cuda::CUDAGuard guard;
  at::Tensor x, frame;
  int64_t N;
  LevelTable levels;
  unsigned int blocks;
  cudaStream_t stream;
};

// Runs the lambda (a kernel launch) with scalar_t (the tables' type), accum_t and kF defined for
// every dtype and F the kernels take, then checks the launch.
#define NBSKIT_DISPATCH_TABLES(dtype, F, name, ...)               \
  AT_DISPATCH_FLOATING_TYPES_AND_HALF(dtype, name, [&] {          \
    using accum_t = at::opmath_type<scalar_t>;                    \
    NBSKIT_DISPATCH_FEATURES(F, __VA_ARGS__);                     \
  });                                                             \
  C10_CUDA_KERNEL_LAUNCH_CHECK()

}  // namespace

at::Tensor hash_encode_forward_cuda(const at::Tensor& x_in, const at::Tensor& tables_in, const at::Tensor& frame_in,
                                    const at::Tensor& offsets, const at::Tensor& scales,
                                    const c10::optional<at::Tensor>& out_opt) {
  check_forward_inputs(x_in, tables_in, frame_in, offsets);
  const SampleLaunch launch(x_in, frame_in, offsets, scales);
  const auto tables = tables_in.contiguous();
  const int64_t T = tables.size(1);
  const int F = static_cast<int>(tables.size(2));
  auto out = output_buffer(out_opt, launch.N, int64_t(launch.levels.count) * F, tables.options());
  if (launch.N == 0) return out;
  NBSKIT_DISPATCH_TABLES(tables.scalar_type(), F, "hash_encode_forward_cuda", [&] {
    lookup_forward_kernel<scalar_t, accum_t, kF><<<launch.blocks, kThreads, 0, launch.stream>>>(
        launch.x.data_ptr<float>(), tables.data_ptr<scalar_t>(), launch.frame.data_ptr<int64_t>(), tables.size(0),
        launch.levels, launch.N, T, F, out.data_ptr<scalar_t>());
  });
  return out;
}

at::Tensor hash_encode_backward_cuda(const at::Tensor& grad_out_in, const at::Tensor& x_in, const at::Tensor& frame_in,
                                     const at::Tensor& offsets, const at::Tensor& scales, int64_t num_tables,
                                     int64_t features) {
  check_backward_inputs(grad_out_in, x_in, frame_in, offsets, features);
  const SampleLaunch launch(x_in, frame_in, offsets, scales);
  const auto grad_out = grad_out_in.contiguous();
  const int64_t T = total_entries(offsets);
  const int F = static_cast<int>(features);
  // Stays in the accumulation type: blend_backward reads it and writes the tables' dtype.
  auto grad = at::zeros({num_tables, T, features}, grad_out.options().dtype(accum_type(grad_out.scalar_type())));
  if (launch.N == 0) return grad;
  NBSKIT_DISPATCH_TABLES(grad_out.scalar_type(), F, "hash_encode_backward_cuda", [&] {
    lookup_backward_kernel<scalar_t, accum_t, kF><<<launch.blocks, kThreads, 0, launch.stream>>>(
        grad_out.data_ptr<scalar_t>(), launch.x.data_ptr<float>(), launch.frame.data_ptr<int64_t>(), num_tables,
        launch.levels, launch.N, T, F, grad.data_ptr<accum_t>());
  });
  return grad;
}

at::Tensor blend_forward_cuda(const at::Tensor& tables, const at::Tensor& coefficients) {
  TORCH_CHECK_VALUE(tables.dim() == 3, "blend (CUDA): tables must be [K+1,T,F], got ", tables.sizes());
  check_coefficients(coefficients, tables);
  check_cuda(tables, "tables");
  const at::cuda::CUDAGuard guard(tables.device());
  // One dense [B,K+1] x [K+1,T*F] product: cuBLAS already runs it at memory speed.
  return at::matmul(coefficients.contiguous(), tables.reshape({tables.size(0), -1}))
      .reshape({coefficients.size(0), tables.size(1), tables.size(2)});
}

at::Tensor blend_backward_cuda(const at::Tensor& grad_blended_in, const at::Tensor& coefficients_in) {
  TORCH_CHECK_VALUE(grad_blended_in.dim() == 3 && coefficients_in.dim() == 2 &&
                        coefficients_in.size(0) == grad_blended_in.size(0) &&
                        coefficients_in.device() == grad_blended_in.device(),
                    "blend backward (CUDA): expected grad_blended [B,T,F] and coefficients [B,K+1] on one device, got ",
                    grad_blended_in.sizes(), " and ", coefficients_in.sizes());
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
  check_forward_inputs(x_in, tables_in, frame_in, offsets);
  check_coefficients(coefficients_in, tables_in);
  const SampleLaunch launch(x_in, frame_in, offsets, scales);
  const auto tables = tables_in.contiguous(), coefficients = coefficients_in.contiguous();
  const int64_t K1 = tables.size(0), T = tables.size(1);
  const int F = static_cast<int>(tables.size(2));
  auto out = output_buffer(out_opt, launch.N, int64_t(launch.levels.count) * F, tables.options());
  if (launch.N == 0) return out;
  NBSKIT_DISPATCH_TABLES(tables.scalar_type(), F, "blended_encode_forward_cuda", [&] {
    fused_forward_kernel<scalar_t, accum_t, kF><<<launch.blocks, kThreads, 0, launch.stream>>>(
        launch.x.data_ptr<float>(), tables.data_ptr<scalar_t>(), coefficients.data_ptr<scalar_t>(),
        launch.frame.data_ptr<int64_t>(), coefficients.size(0), launch.levels, launch.N, K1, T, F,
        out.data_ptr<scalar_t>());
  });
  return out;
}

std::vector<at::Tensor> blended_encode_backward_cuda(const at::Tensor& grad_out_in, const at::Tensor& x_in,
                                                     const at::Tensor& tables_in, const at::Tensor& coefficients_in,
                                                     const at::Tensor& frame_in, const at::Tensor& offsets,
                                                     const at::Tensor& scales, bool need_coefficient_grad) {
  check_backward_inputs(grad_out_in, x_in, frame_in, offsets, tables_in.size(2));
  check_tables(tables_in, offsets, "tables");
  check_device(tables_in, x_in, "tables");
  check_coefficients(coefficients_in, tables_in);
  const SampleLaunch launch(x_in, frame_in, offsets, scales);
  const auto tables = tables_in.contiguous(), coefficients = coefficients_in.contiguous();
  const auto grad_out = grad_out_in.contiguous();
  const int64_t K1 = tables.size(0), T = tables.size(1), B = coefficients.size(0);
  const int F = static_cast<int>(tables.size(2));
  const auto accum_options = tables.options().dtype(accum_type(tables.scalar_type()));
  auto grad_tables = at::zeros(tables.sizes(), accum_options);
  auto grad_coefficients = need_coefficient_grad ? at::zeros({B, K1}, accum_options) : at::Tensor();
  if (launch.N > 0) {
    NBSKIT_DISPATCH_TABLES(tables.scalar_type(), F, "blended_encode_backward_cuda", [&] {
      fused_backward_kernel<scalar_t, accum_t, kF><<<launch.blocks, kThreads, 0, launch.stream>>>(
          grad_out.data_ptr<scalar_t>(), launch.x.data_ptr<float>(), tables.data_ptr<scalar_t>(),
          coefficients.data_ptr<scalar_t>(), launch.frame.data_ptr<int64_t>(), B, launch.levels, launch.N, K1, T, F,
          grad_tables.data_ptr<accum_t>(), need_coefficient_grad ? grad_coefficients.data_ptr<accum_t>() : nullptr);
    });
  }
  return {grad_tables.to(tables.scalar_type()),
          need_coefficient_grad ? grad_coefficients.to(tables.scalar_type()) : at::Tensor()};
}

}  // namespace nbskit
