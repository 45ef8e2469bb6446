// Declarations of the hash-encoding entry points (CPU in hash_encode_cpu.cpp, CUDA in
// hash_encode_cuda.cu). Shapes: x [N,3] float32 in [0,1]; frame [N] int64; offsets [L+1] int32;
// scales [L] float32; F features per entry; outputs [N, L*F]. A forward pass given `out`
// overwrites every element of it (the tests pass NaN-filled buffers to check that).
#pragma once

#include <ATen/ATen.h>

#include <vector>

namespace nbskit {

// Lookup in already-blended tables [B,T,F]: out[n] reads tables[frame[n]].
at::Tensor hash_encode_forward_cpu(const at::Tensor& x, const at::Tensor& tables, const at::Tensor& frame,
                                   const at::Tensor& offsets, const at::Tensor& scales,
                                   const c10::optional<at::Tensor>& out);
// Gradient of the lookup with respect to the blended tables: [B,T,F].
at::Tensor hash_encode_backward_cpu(const at::Tensor& grad_out, const at::Tensor& x, const at::Tensor& frame,
                                    const at::Tensor& offsets, const at::Tensor& scales, int64_t num_tables,
                                    int64_t features);

// Chain rule through the blend (blended = coefficients @ tables): [B,T,F], [B,K+1] -> [K+1,T,F].
at::Tensor blend_backward_cpu(const at::Tensor& grad_blended, const at::Tensor& coefficients);

// Fused blend and lookup in the raw tables [K+1,T,F] with coefficients [B,K+1]:
// out[n] = sum_k coefficients[frame[n], k] * lookup(tables[k]).
at::Tensor blended_encode_forward_cpu(const at::Tensor& x, const at::Tensor& tables,
                                      const at::Tensor& coefficients, const at::Tensor& frame,
                                      const at::Tensor& offsets, const at::Tensor& scales,
                                      const c10::optional<at::Tensor>& out);
// Returns {grad_tables [K+1,T,F], grad_coefficients [B,K+1] (undefined unless requested)}.
std::vector<at::Tensor> blended_encode_backward_cpu(const at::Tensor& grad_out, const at::Tensor& x,
                                                    const at::Tensor& tables, const at::Tensor& coefficients,
                                                    const at::Tensor& frame, const at::Tensor& offsets,
                                                    const at::Tensor& scales, bool need_coefficient_grad);

// CUDA versions: same arguments and results, tensors on the GPU; tables may also be float16
// (activations float16, accumulation float32). hash_encode_backward_cuda returns the gradient in
// the accumulation type (float32 for float16 tables).
at::Tensor hash_encode_forward_cuda(const at::Tensor& x, const at::Tensor& tables, const at::Tensor& frame,
                                    const at::Tensor& offsets, const at::Tensor& scales,
                                    const c10::optional<at::Tensor>& out);
at::Tensor hash_encode_backward_cuda(const at::Tensor& grad_out, const at::Tensor& x, const at::Tensor& frame,
                                     const at::Tensor& offsets, const at::Tensor& scales, int64_t num_tables,
                                     int64_t features);
at::Tensor blend_backward_cuda(const at::Tensor& grad_blended, const at::Tensor& coefficients);
at::Tensor blended_encode_forward_cuda(const at::Tensor& x, const at::Tensor& tables, const at::Tensor& coefficients,
                                       const at::Tensor& frame, const at::Tensor& offsets, const at::Tensor& scales,
                                       const c10::optional<at::Tensor>& out);
std::vector<at::Tensor> blended_encode_backward_cuda(const at::Tensor& grad_out, const at::Tensor& x,
                                                     const at::Tensor& tables, const at::Tensor& coefficients,
                                                     const at::Tensor& frame, const at::Tensor& offsets,
                                                     const at::Tensor& scales, bool need_coefficient_grad);

}  // namespace nbskit
