// Declarations of the hash-encoding entry points (CPU in hash_encode_cpu.cpp, CUDA in
// hash_encode_cuda.cu). Shapes: x [N,3] float32 in [0,1]; frame [N] int64; offsets [L+1] int32;
// scales [L] float32; F features per entry; outputs [N, L*F]. A forward pass given `out`
// overwrites every element of it (the tests pass NaN-filled buffers to check that).
#pragma once

#include <ATen/ATen.h>

#include <vector>

// Declares the entry points of one device: NBSKIT_DECLARE_HASH_ENCODE(cpu) declares
// hash_encode_forward_cpu and the rest, NBSKIT_DECLARE_HASH_ENCODE(cuda) the *_cuda ones, with the
// same arguments and results (bindings.h binds both under the same Python names).
#define NBSKIT_DECLARE_HASH_ENCODE(device)                                                                        \
  /* Lookup in already-blended tables [B,T,F]: out[n] reads tables[frame[n]]. */                                \
  at::Tensor hash_encode_forward_##device(const at::Tensor& x, const at::Tensor& tables, const at::Tensor& frame, \
                                          const at::Tensor& offsets, const at::Tensor& scales,                   \
                                          const c10::optional<at::Tensor>& out);                                 \
  /* Gradient of the lookup with respect to the blended tables: [B,T,F]. */                                     \
  at::Tensor hash_encode_backward_##device(const at::Tensor& grad_out, const at::Tensor& x,                      \
                                           const at::Tensor& frame, const at::Tensor& offsets,                   \
                                           const at::Tensor& scales, int64_t num_tables, int64_t features);     \
  /* The blend: blended[b] = sum_k coefficients[b,k] tables[k]: [K+1,T,F], [B,K+1] -> [B,T,F]. */              \
  at::Tensor blend_forward_##device(const at::Tensor& tables, const at::Tensor& coefficients);                   \
  /* Chain rule through the blend (blended = coefficients @ tables): [B,T,F], [B,K+1] -> [K+1,T,F]. */          \
  at::Tensor blend_backward_##device(const at::Tensor& grad_blended, const at::Tensor& coefficients);            \
  /* Fused blend and lookup in the raw tables [K+1,T,F] with coefficients [B,K+1]: */                            \
  /* out[n] = sum_k coefficients[frame[n], k] * lookup(tables[k]). */                                            \
  at::Tensor blended_encode_forward_##device(const at::Tensor& x, const at::Tensor& tables,                      \
                                             const at::Tensor& coefficients, const at::Tensor& frame,            \
                                             const at::Tensor& offsets, const at::Tensor& scales,                \
                                             const c10::optional<at::Tensor>& out);                              \
  /* Returns {grad_tables [K+1,T,F], grad_coefficients [B,K+1] (undefined unless requested)}. */                 \
  std::vector<at::Tensor> blended_encode_backward_##device(                                                      \
      const at::Tensor& grad_out, const at::Tensor& x, const at::Tensor& tables, const at::Tensor& coefficients, \
      const at::Tensor& frame, const at::Tensor& offsets, const at::Tensor& scales, bool need_coefficient_grad)

namespace nbskit {

NBSKIT_DECLARE_HASH_ENCODE(cpu);

// On CUDA, tables may also be float16 (activations float16, accumulation float32), and
// hash_encode_backward_cuda returns the gradient in the accumulation type (float32 for float16
// tables).
NBSKIT_DECLARE_HASH_ENCODE(cuda);

}  // namespace nbskit
