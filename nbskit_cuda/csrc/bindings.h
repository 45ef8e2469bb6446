// One list of Python bindings for both extensions: NBSKIT_BIND_KERNELS(m, cpu) binds the
// *_cpu functions, NBSKIT_BIND_KERNELS(m, cuda) the *_cuda ones, under the same Python names.
#pragma once

#include <torch/extension.h>

#include "hash_encode.h"
#include "render.h"
#include "row_sparse_adam.h"

#define NBSKIT_BIND_KERNELS(m, device)                                                                          \
  m.def("hash_encode_forward", &nbskit::hash_encode_forward_##device,                                          \
        "lookup in blended tables [B,T,F] -> [N, L*F]", py::arg("x"), py::arg("tables"), py::arg("frame"),     \
        py::arg("offsets"), py::arg("scales"), py::arg("out") = py::none());                                   \
  m.def("hash_encode_backward", &nbskit::hash_encode_backward_##device,                                        \
        "gradient of the lookup w.r.t. the blended tables");                                                   \
  m.def("blend_forward", &nbskit::blend_forward_##device, "blended [B,T,F] = coefficients [B,K+1] @ tables");  \
  m.def("blend_backward", &nbskit::blend_backward_##device, "chain rule through coefficients @ tables");       \
  m.def("blended_encode_forward", &nbskit::blended_encode_forward_##device,                                    \
        "fused blend + lookup in raw tables [K+1,T,F] with coefficients [B,K+1]", py::arg("x"),                \
        py::arg("tables"), py::arg("coefficients"), py::arg("frame"), py::arg("offsets"), py::arg("scales"),   \
        py::arg("out") = py::none());                                                                          \
  m.def("blended_encode_backward", &nbskit::blended_encode_backward_##device,                                  \
        "gradients of the fused lookup: raw tables and (optionally) coefficients");                            \
  m.def("march_rays", &nbskit::march_rays_##device, "packed samples of rays marched through an occupancy bitfield"); \
  m.def("composite_forward", &nbskit::composite_forward_##device, "front-to-back compositing of packed samples"); \
  m.def("composite_backward", &nbskit::composite_backward_##device,                                            \
        "gradients of compositing w.r.t. sigma and rgb");                                                     \
  m.def("row_sparse_adam_step", &nbskit::row_sparse_adam_step_##device,                                        \
        "in-place Adam update of the rows whose gradient is not all zero; returns the updated row count")
