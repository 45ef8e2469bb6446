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

// Adam update of `count` consecutive values (one touched row, or a run of touched rows), computed
// in op_t (float for float16 values, as torch's own kernels compute half tensors) and stored back.
template <typename scalar_t, typename op_t = scalar_t>
NBSKIT_HOST_DEVICE void adam_update_values(scalar_t* __restrict__ param, const scalar_t* __restrict__ grad,
                                           scalar_t* __restrict__ exp_avg, scalar_t* __restrict__ exp_avg_sq,
                                           int64_t count, const AdamCoefficients& a) {
  const op_t one_minus_beta1 = op_t(1) - op_t(a.beta1);
  const op_t one_minus_beta2 = op_t(1) - op_t(a.beta2);
  for (int64_t f = 0; f < count; ++f) {
    const op_t g = static_cast<op_t>(grad[f]), m_old = static_cast<op_t>(exp_avg[f]);
    const op_t m = m_old + one_minus_beta1 * (g - m_old);
    const op_t v = static_cast<op_t>(exp_avg_sq[f]) * op_t(a.beta2) + one_minus_beta2 * g * g;
    const op_t denom = std::sqrt(v) / op_t(a.bias_correction2_sqrt) + op_t(a.eps);
    exp_avg[f] = static_cast<scalar_t>(m);
    exp_avg_sq[f] = static_cast<scalar_t>(v);
    param[f] = static_cast<scalar_t>(static_cast<op_t>(param[f]) + (-op_t(a.step_size)) * (m / denom));
  }
}

template <typename scalar_t, typename op_t = scalar_t>
NBSKIT_HOST_DEVICE bool row_is_touched(const scalar_t* grad, int64_t features) {
  for (int64_t f = 0; f < features; ++f) {
    if (static_cast<op_t>(grad[f]) != op_t(0)) return true;
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
    TORCH_CHECK_VALUE(t->sizes() == param.sizes() && t->scalar_type() == param.scalar_type() &&
                          t->device() == param.device() && t->is_contiguous(),
                      "row-sparse Adam: grad, exp_avg and exp_avg_sq must be contiguous tensors of the parameter's shape ",
                      param.sizes(), ", dtype and device; got ", t->sizes(), " ", t->scalar_type(), " on ", t->device());
  }
  TORCH_CHECK_VALUE(param.is_contiguous() && param.dim() >= 1,
                    "row-sparse Adam: the parameter must be contiguous, got ", param.sizes());
}

}  // namespace nbskit
