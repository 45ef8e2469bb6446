// CPU buffers allocated and freed once per training step: the gradients of the raw tables
// ([K+1,T,F]: 185 MB at the paper configuration with K = 46), the blended tables and their gradient
// ([B,T,F]) and the encoding output ([N, L*F]: 32 MB for 2^17 samples). A fresh buffer of that size
// costs thousands of page faults (and the kernel zero-fills every page), as much as the kernels
// themselves: large buffers are mapped with transparent huge pages where the OS allows (512x fewer
// faults), and the few most recently freed ones are kept and handed out again for a request of the
// same size, so a training loop faults only on its first step. The price is a few idle buffers
// held between steps.
#pragma once

#include <ATen/ATen.h>

namespace nbskit {

// A contiguous tensor whose contents are unspecified (the caller writes every element).
at::Tensor empty_large_cpu(at::IntArrayRef sizes, at::ScalarType dtype);

// A zero-filled contiguous tensor.
at::Tensor zeros_large_cpu(at::IntArrayRef sizes, at::ScalarType dtype);

}  // namespace nbskit
