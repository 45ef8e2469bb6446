// CPU buffers for the gradients of the raw tables ([K+1,T,F]: 185 MB at the paper configuration
// with K = 46), allocated and freed once per training step. A fresh buffer of that size costs ~45k
// page faults (and the kernel zero-fills every page), more than the kernels themselves: large
// buffers are mapped with transparent huge pages where the OS allows (512x fewer faults), and the
// most recently freed one is kept and handed out again for a request of the same size, so a
// training loop (allocate in backward, free in zero_grad) faults only on its first step. The price
// is one idle buffer of that size held between steps.
#pragma once

#include <ATen/ATen.h>

namespace nbskit {

// A contiguous tensor whose contents are unspecified (the caller writes every element).
at::Tensor empty_large_cpu(at::IntArrayRef sizes, at::ScalarType dtype);

// A zero-filled contiguous tensor.
at::Tensor zeros_large_cpu(at::IntArrayRef sizes, at::ScalarType dtype);

}  // namespace nbskit
