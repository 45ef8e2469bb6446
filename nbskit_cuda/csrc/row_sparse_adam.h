// Lazy ("row-sparse") Adam step for hash tables: only rows whose gradient is not all zero are
// updated; other rows keep their value and both moments. A row is the last dimension of the
// parameter (the F features of one table entry). Both kernels read the whole gradient once (the
// scan that finds touched rows) and read/write the parameter and moments of touched rows only,
// instead of dense Adam's 3 reads and 3 writes of every entry.
//
// The update of a touched row follows torch.optim.Adam's single-tensor path operation by operation:
//   m = lerp(m, g, 1 - beta1); v = v * beta2 + (1 - beta2) * g * g;
//   p = p - step_size * m / (sqrt(v) / bias_correction2_sqrt + eps)
// with step_size = lr / (1 - beta1^t) and bias_correction2_sqrt = sqrt(1 - beta2^t) from the caller.
#pragma once

#include <ATen/ATen.h>

#include <cmath>

#include "hash_grid.h"  // NBSKIT_HOST_DEVICE

namespace nbskit {

// Kept in double and cast to the parameter's type where used, as torch does with Python scalars.
struct AdamCoefficients {
  double beta1, beta2, eps, step_size, bias_correction2_sqrt;
};

// Adam update of `count` consecutive values (one touched row, or a run of touched rows).
template <typename scalar_t>
NBSKIT_HOST_DEVICE void adam_update_values(scalar_t* __restrict__ param, const scalar_t* __restrict__ grad,
                                           scalar_t* __restrict__ exp_avg, scalar_t* __restrict__ exp_avg_sq,
                                           int64_t count, const AdamCoefficients& a) {
  const scalar_t one_minus_beta1 = scalar_t(1) - scalar_t(a.beta1);
  const scalar_t one_minus_beta2 = scalar_t(1) - scalar_t(a.beta2);
  for (int64_t f = 0; f < count; ++f) {
    const scalar_t g = grad[f];
    const scalar_t m = exp_avg[f] + one_minus_beta1 * (g - exp_avg[f]);
    const scalar_t v = exp_avg_sq[f] * scalar_t(a.beta2) + one_minus_beta2 * g * g;
    const scalar_t denom = std::sqrt(v) / scalar_t(a.bias_correction2_sqrt) + scalar_t(a.eps);
    exp_avg[f] = m;
    exp_avg_sq[f] = v;
    param[f] = param[f] + (-scalar_t(a.step_size)) * (m / denom);
  }
}

template <typename scalar_t>
NBSKIT_HOST_DEVICE bool row_is_touched(const scalar_t* grad, int64_t features) {
  for (int64_t f = 0; f < features; ++f) {
    if (grad[f] != scalar_t(0)) return true;
  }
  return false;
}

// Shapes: param, grad, exp_avg, exp_avg_sq: one shape [..., F], contiguous, one dtype and device.
// Returns the number of rows updated (int64 scalar tensor on the parameter's device).
at::Tensor row_sparse_adam_step_cpu(at::Tensor param, const at::Tensor& grad, at::Tensor exp_avg, at::Tensor exp_avg_sq,
                                    double beta1, double beta2, double eps, double step_size,
                                    double bias_correction2_sqrt);
at::Tensor row_sparse_adam_step_cuda(at::Tensor param, const at::Tensor& grad, at::Tensor exp_avg,
                                     at::Tensor exp_avg_sq, double beta1, double beta2, double eps, double step_size,
                                     double bias_correction2_sqrt);

// Argument checks shared by both devices.
inline void check_adam_tensors(const at::Tensor& param, const at::Tensor& grad, const at::Tensor& exp_avg,
                               const at::Tensor& exp_avg_sq) {
  for (const at::Tensor* t : {&grad, &exp_avg, &exp_avg_sq}) {
    TORCH_CHECK(t->sizes() == param.sizes() && t->scalar_type() == param.scalar_type() &&
                    t->device() == param.device() && t->is_contiguous(),
                "row-sparse Adam: grad, exp_avg and exp_avg_sq must be contiguous tensors of the parameter's shape ",
                param.sizes(), ", dtype and device; got ", t->sizes(), " ", t->scalar_type(), " on ", t->device());
  }
  TORCH_CHECK(param.is_contiguous() && param.dim() >= 1, "row-sparse Adam: the parameter must be contiguous, got ",
              param.sizes());
}

}  // namespace nbskit
