"""nbskit_cuda: the compiled core of nbskit.

Will hold the C++/OpenMP and CUDA kernels for the hot paths (blended hash encoding forward and
backward with a per-sample frame index, occupancy-grid marching, compositing forward and backward)
and the loader that builds them just in time with ``torch.utils.cpp_extension.load``. Until they
land, nbskit runs on its pure-PyTorch reference backend.
"""
