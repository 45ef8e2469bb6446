// Python module of the CUDA extension (same function names as the CPU one).
#include "bindings.h"

PYBIND11_MODULE(TORCH_EXTENSION_NAME, m) {
  m.doc() = "nbskit compiled core: CUDA kernels";
  NBSKIT_BIND_KERNELS(m, cuda);
}
