// CUDA row-sparse Adam step (see row_sparse_adam.h): one thread per row of F values. float16
// tables are updated in float arithmetic (at::opmath_type) and stored back in float16.
#include <ATen/OpMathType.h>
#include <ATen/cuda/CUDAContext.h>
#include <c10/cuda/CUDAGuard.h>

#include "row_sparse_adam.h"

namespace nbskit {
namespace {

constexpr int kThreads = 256;
constexpr int kWarps = kThreads / 32;

template <typename scalar_t>
__global__ void row_sparse_adam_kernel(scalar_t* param, const scalar_t* grad, scalar_t* exp_avg, scalar_t* exp_avg_sq,
                                       int64_t rows, int64_t features, AdamCoefficients a,
                                       unsigned long long* updated) {
  using op_t = at::opmath_type<scalar_t>;
  const int64_t r = static_cast<int64_t>(blockIdx.x) * blockDim.x + threadIdx.x;
  bool touched = false;
  if (r < rows) {
    const int64_t at = r * features;
    touched = row_is_touched<scalar_t, op_t>(grad + at, features);
    if (touched) adam_update_values<scalar_t, op_t>(param + at, grad + at, exp_avg + at, exp_avg_sq + at, features, a);
  }
  // The block's count of updated rows: a ballot per warp, summed by the first thread, then one
  // atomic per block (a per-row or per-warp atomic on one counter serialises on the GPU).
  __shared__ unsigned int warp_counts[kWarps];
  const unsigned int ballot = __ballot_sync(0xffffffffu, touched);
  if ((threadIdx.x & 31) == 0) warp_counts[threadIdx.x >> 5] = __popc(ballot);
  __syncthreads();
  if (threadIdx.x == 0) {
    unsigned long long block_count = 0;
    for (int w = 0; w < kWarps; ++w) block_count += warp_counts[w];
    if (block_count != 0) atomicAdd(updated, block_count);
  }
}

}  // namespace

at::Tensor row_sparse_adam_step_cuda(at::Tensor param, const at::Tensor& grad, at::Tensor exp_avg,
                                     at::Tensor exp_avg_sq, double beta1, double beta2, double eps, double step_size,
                                     double bias_correction2_sqrt) {
  check_adam_tensors(param, grad, exp_avg, exp_avg_sq);
  TORCH_CHECK_VALUE(param.is_cuda(), "row-sparse Adam (CUDA): the parameter must be on a CUDA device, got ",
                    param.device());
  const at::cuda::CUDAGuard guard(param.device());
  const int64_t features = param.size(-1);
  const int64_t rows = features == 0 ? 0 : param.numel() / features;
  auto updated = at::zeros({}, param.options().dtype(at::kLong));
  if (rows == 0) return updated;
  const AdamCoefficients a{beta1, beta2, eps, step_size, bias_correction2_sqrt};
  const unsigned int blocks = static_cast<unsigned int>((rows + kThreads - 1) / kThreads);
  AT_DISPATCH_FLOATING_TYPES_AND_HALF(param.scalar_type(), "row_sparse_adam_step_cuda", [&] {
    row_sparse_adam_kernel<scalar_t><<<blocks, kThreads, 0, at::cuda::getCurrentCUDAStream()>>>(
        param.data_ptr<scalar_t>(), grad.data_ptr<scalar_t>(), exp_avg.data_ptr<scalar_t>(),
        exp_avg_sq.data_ptr<scalar_t>(), rows, features, a,
        reinterpret_cast<unsigned long long*>(updated.data_ptr<int64_t>()));
  });
  C10_CUDA_KERNEL_LAUNCH_CHECK();
  return updated;
}

}  // namespace nbskit
