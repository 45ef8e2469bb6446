// Zero-filled CPU tensors for the gradients of the raw tables ([K+1,T,F]: 185 MB at the paper
// configuration with K = 46). A fresh buffer of that size costs ~45k page faults per backward
// pass, more than the kernels themselves; asking for transparent huge pages cuts the faults 512x.
#pragma once

#include <ATen/ATen.h>

namespace nbskit {

// A zero-filled contiguous tensor; large ones are backed by huge pages where the OS allows.
at::Tensor zeros_large_cpu(at::IntArrayRef sizes, at::ScalarType dtype);

}  // namespace nbskit
