// C++ (at::parallel_for) kernels of the blended hash encoding.
//
// Forward passes split the samples into blocks (one thread each) and sweep a block level by level.
// Backward passes are split by level: each thread owns whole levels, so no gradient row is written
// by two threads (no atomics, deterministic sums), and sweeps the samples in blocks, all its levels
// per block. Within a level, the corners of 64 samples at a time are computed in one vectorised
// loop (CornerBatch), then their rows are read or updated sample by sample.
// Measured at the paper grid (2^17 samples, 2 frames, K=46) on the 2-core EPYC test machine, these
// choices took blend + encode forward+backward from 84 ms to 30 ms (`nbskit bench encode`).
#include <ATen/Parallel.h>

#include <cstring>

#include "hash_encode.h"
#include "hash_encode_common.h"
#include "large_buffer_cpu.h"

namespace nbskit {
namespace {

constexpr int64_t kForwardBlock = 1024;  // samples per forward work item
constexpr int64_t kBlendGrain = 1 << 14;  // table values per work item of the blend and its backward

// kFeatures > 0 fixes F at compile time (unrolled loops); 0 reads it at run time.
template <int kFeatures>
struct Features {
  static constexpr int kCompileTime = kFeatures;
  explicit Features(int64_t) {}
  static constexpr int64_t value() { return kFeatures; }
};
template <>
struct Features<0> {
  static constexpr int kCompileTime = 0;
  explicit Features(int64_t f) : f_(f) {}
  int64_t value() const { return f_; }
  int64_t f_;
};

// Calls fn(row) with `row` (F values) or, when F is known at compile time, with a local copy of
// it: the compiler then knows that table rows written in between cannot change it, keeps it in
// registers and vectorises over F (the pointer version reloads it after every store).
template <typename scalar_t, typename F, typename Fn>
inline void with_local_row(const scalar_t* row, F features, Fn&& fn) {
  if constexpr (F::kCompileTime > 0) {
    scalar_t local[F::kCompileTime];
    for (int f = 0; f < F::kCompileTime; ++f) local[f] = row[f];
    fn(static_cast<const scalar_t*>(local));
  } else {
    fn(row);
  }
}

// row[f] += w * g[f] for f < F. With F known at compile time the row goes through a local copy, so
// the update compiles to one SIMD load, multiply, add and store instead of F scalar ones (the
// compiler cannot otherwise rule out that `row` overlaps `g`).
template <typename scalar_t, typename F>
inline void add_scaled_row(scalar_t* row, scalar_t w, const scalar_t* g, F features) {
  if constexpr (F::kCompileTime > 0) {
    scalar_t local[F::kCompileTime];
    std::memcpy(local, row, sizeof(local));
    for (int f = 0; f < F::kCompileTime; ++f) local[f] += w * g[f];
    std::memcpy(row, local, sizeof(local));
  } else {
    for (int64_t f = 0; f < features.value(); ++f) row[f] += w * g[f];
  }
}

template <typename Fn>
void dispatch_features(int64_t features, Fn&& fn) {
  switch (features) {
    case 1: fn(Features<1>(1)); break;
    case 2: fn(Features<2>(2)); break;
    case 4: fn(Features<4>(4)); break;
    case 8: fn(Features<8>(8)); break;
    default: fn(Features<0>(features)); break;
  }
}

// The cell corners of a run of consecutive samples at one level, as structure of arrays.
constexpr int kCornerBatch = 64;
struct CornerBatch {
  alignas(64) uint32_t row[kCorners][kCornerBatch];
  alignas(64) float weight[kCorners][kCornerBatch];
  alignas(64) uint32_t inside[kCornerBatch];  // 0 for samples outside [0,1]^3 (their corners are meaningless)
};

// cell_corners (hash_grid.h) for `count` samples, with the same arithmetic in the same order, spelled
// out per corner so that g++ vectorises the loop over samples (16 at a time with AVX-512; it does
// not vectorise cell_corners' own loops over axes and corners). kDense: the index is the sum of
// the per-axis terms; else their xor, masked to the power-of-two table. The parity tests hold both
// paths to the torch reference.
template <bool kDense>
void batch_corners(const float* x, int count, const LevelGeometry& level, CornerBatch& out) {
  const float scale = level.scale;
  const uint32_t my = kDense ? level.stride : kPrimeY, mz = kDense ? level.stride * level.stride : kPrimeZ;
  const uint32_t offset = level.offset, mask = level.mask;
  for (int i = 0; i < count; ++i) {
    float p0 = x[i * kDims], p1 = x[i * kDims + 1], p2 = x[i * kDims + 2];
    const bool inside = inside_unit_cube(p0, p1, p2);
    out.inside[i] = inside;
    p0 = inside ? p0 : 0.f;  // keeps the float-to-integer conversions below defined
    p1 = inside ? p1 : 0.f;
    p2 = inside ? p2 : 0.f;
    const float pos0 = p0 * scale + 0.5f, pos1 = p1 * scale + 0.5f, pos2 = p2 * scale + 0.5f;
    const float cell0 = floorf(pos0), cell1 = floorf(pos1), cell2 = floorf(pos2);
    // Lower / upper corner terms per axis; cells are >= 0 and far below 2^31, so going through
    // int32 (one SIMD instruction) gives the same value as cell_corners' direct uint32 cast.
    const uint32_t lo0 = uint32_t(int32_t(cell0)), lo1 = uint32_t(int32_t(cell1)) * my;
    const uint32_t lo2 = uint32_t(int32_t(cell2)) * mz;
    const uint32_t hi0 = lo0 + 1u, hi1 = lo1 + my, hi2 = lo2 + mz;
    const float up0 = pos0 - cell0, up1 = pos1 - cell1, up2 = pos2 - cell2;
    const float down0 = 1.f - up0, down1 = 1.f - up1, down2 = 1.f - up2;
    const uint32_t t0[2] = {lo0, hi0}, t1[2] = {lo1, hi1}, t2[2] = {lo2, hi2};
    const float s0[2] = {down0, up0}, s1[2] = {down1, up1}, s2[2] = {down2, up2};
#pragma GCC unroll 8
    for (int c = 0; c < kCorners; ++c) {
      const int a = c & 1, b = (c >> 1) & 1, k = c >> 2;
      out.row[c][i] = offset + (kDense ? t0[a] + t1[b] + t2[k] : ((t0[a] ^ t1[b] ^ t2[k]) & mask));
      out.weight[c][i] = (s0[a] * s1[b]) * s2[k];
    }
  }
}

// Corners of `count` samples starting at x: the vectorised paths where they apply, else (a hashed
// table whose size is not a power of two) cell_corners sample by sample.
inline void corners_of_batch(const float* x, int count, const LevelGeometry& level, CornerBatch& out) {
  if (level.dense) return batch_corners<true>(x, count, level, out);
  if (level.mask != 0) return batch_corners<false>(x, count, level, out);
  CellCorners corners;
  for (int i = 0; i < count; ++i) {
    const float* p = x + i * kDims;
    out.inside[i] = inside_unit_cube(p[0], p[1], p[2]);
    if (!out.inside[i]) continue;
    cell_corners(p, level, corners);
    for (int c = 0; c < kCorners; ++c) {
      out.row[c][i] = corners.row[c];
      out.weight[c][i] = corners.weight[c];
    }
  }
}

// Sweeps samples [begin, end) at one level in increasing n: inside(n, corners) for a sample in the
// unit cube, outside(n) for any other.
template <typename Inside, typename Outside>
inline void sweep_level(const float* x, int64_t begin, int64_t end, const LevelGeometry& level, Inside&& inside,
                        Outside&& outside) {
  CornerBatch batch;
  CellCorners corners;
  for (int64_t first = begin; first < end; first += kCornerBatch) {
    const int count = static_cast<int>(std::min<int64_t>(kCornerBatch, end - first));
    corners_of_batch(x + first * kDims, count, level, batch);
    for (int i = 0; i < count; ++i) {
      if (!batch.inside[i]) {
        outside(first + i);
        continue;
      }
      for (int c = 0; c < kCorners; ++c) {
        corners.row[c] = batch.row[c][i];
        corners.weight[c] = batch.weight[c][i];
      }
      inside(first + i, corners);
    }
  }
}

constexpr int64_t kBackwardBlock = 1024;  // samples per block of a backward sweep

// Calls visit(l, n, corners) for every level l and every sample n inside the unit cube, in
// parallel, with each level owned by one thread: no gradient row is ever written by two threads
// (no atomics, deterministic sums). A thread owns every P-th level (a mix of cheap dense and
// costly hashed ones) and sweeps the samples in blocks, all its levels per block, so a block's
// positions and output gradients are read from memory once rather than once per level.
template <typename Visit>
void for_each_level_and_sample(const float* x, const std::vector<LevelGeometry>& levels, int64_t N, Visit&& visit) {
  const int64_t L = static_cast<int64_t>(levels.size());
  const int64_t P = std::max<int64_t>(1, std::min<int64_t>(at::get_num_threads(), L));
  at::parallel_for(0, P, 1, [&](int64_t first_owner, int64_t last_owner) {
    for (int64_t owner = first_owner; owner < last_owner; ++owner) {
      for (int64_t begin = 0; begin < N; begin += kBackwardBlock) {
        const int64_t end = std::min(N, begin + kBackwardBlock);
        for (int64_t l = owner; l < L; l += P) {
          sweep_level(
              x, begin, end, levels[l], [&](int64_t n, const CellCorners& corners) { visit(l, n, corners); },
              [](int64_t) {});
        }
      }
    }
  });
}

// Writes every element of out [N, L*F]: zeros outside the unit cube, else add_corners(n, corners, acc)
// accumulates level l of sample n into zeroed acc, which is then stored at out[n] + l*F, so `out`
// may start uninitialised. (acc is a local array when F is known at compile time, so the sums
// stay in SIMD registers instead of going through the output pointer, which might alias the
// tables and forced a load and store per corner.) Samples go in blocks, level by level within a block, so that one level's rows
// stay in cache while the block reads them (18% less CPU time than sample by sample with
// prefetching, measured at the paper grid on 2 EPYC cores).
template <typename scalar_t, typename F, typename AddCorners>
void forward_samples(const float* x, const std::vector<LevelGeometry>& levels, int64_t N, F features, scalar_t* out,
                     AddCorners&& add_corners) {
  const int64_t L = static_cast<int64_t>(levels.size());
  const int64_t width = L * features.value();
  const int64_t blocks = (N + kForwardBlock - 1) / kForwardBlock;
  at::parallel_for(0, blocks, 1, [&](int64_t first_block, int64_t last_block) {
    for (int64_t block = first_block; block < last_block; ++block) {
      const int64_t begin = block * kForwardBlock, end = std::min(N, begin + kForwardBlock);
      for (int64_t l = 0; l < L; ++l) {
        const auto output = [&](int64_t n) { return out + n * width + l * features.value(); };
        sweep_level(
            x, begin, end, levels[l],
            [&](int64_t n, const CellCorners& corners) {
              scalar_t* o = output(n);
              if constexpr (F::kCompileTime > 0) {
                scalar_t acc[F::kCompileTime] = {};
                add_corners(n, corners, acc);
                std::copy(acc, acc + F::kCompileTime, o);
              } else {
                std::fill(o, o + features.value(), scalar_t(0));
                add_corners(n, corners, o);
              }
            },
            [&](int64_t n) { std::fill(output(n), output(n) + features.value(), scalar_t(0)); });
      }
    }
  });
}

template <typename scalar_t, typename F>
void lookup_forward(const float* x, const scalar_t* tables, const int64_t* frame, const std::vector<LevelGeometry>& levels,
                    int64_t N, int64_t T, F features, scalar_t* out) {
  forward_samples(x, levels, N, features, out, [&](int64_t n, const CellCorners& corners, scalar_t* o) {
    const scalar_t* table = tables + frame[n] * T * features.value();
    for (int c = 0; c < kCorners; ++c) {
      const scalar_t* row = table + int64_t(corners.row[c]) * features.value();
      for (int64_t f = 0; f < features.value(); ++f) o[f] += corners.weight[c] * row[f];
    }
  });
}

template <typename scalar_t, typename F>
void lookup_backward(const scalar_t* grad_out, const float* x, const int64_t* frame,
                     const std::vector<LevelGeometry>& levels, int64_t N, int64_t T, F features, scalar_t* grad) {
  const int64_t L = static_cast<int64_t>(levels.size());
  const int64_t width = L * features.value();
  for_each_level_and_sample(x, levels, N, [&](int64_t l, int64_t n, const CellCorners& corners) {
    scalar_t* table = grad + frame[n] * T * features.value();
    with_local_row(grad_out + n * width + l * features.value(), features, [&](const scalar_t* g) {
      for (int c = 0; c < kCorners; ++c) {
        add_scaled_row(table + int64_t(corners.row[c]) * features.value(), scalar_t(corners.weight[c]), g, features);
      }
    });
  });
}

template <typename scalar_t, typename F>
void fused_forward(const float* x, const scalar_t* tables, const scalar_t* coefficients, const int64_t* frame,
                   const std::vector<LevelGeometry>& levels, int64_t N, int64_t K1, int64_t T, F features,
                   scalar_t* out) {
  const int64_t table_stride = T * features.value();
  forward_samples(x, levels, N, features, out, [&](int64_t n, const CellCorners& corners, scalar_t* o) {
    const scalar_t* coef = coefficients + frame[n] * K1;
    for (int64_t k = 0; k < K1; ++k) {
      const scalar_t* table = tables + k * table_stride;
      for (int c = 0; c < kCorners; ++c) {
        const scalar_t wc = coef[k] * corners.weight[c];
        const scalar_t* row = table + int64_t(corners.row[c]) * features.value();
        for (int64_t f = 0; f < features.value(); ++f) o[f] += wc * row[f];
      }
    }
  });
}

// grad_coefficients_per_level [L,B,K+1] is summed over levels by the caller (each level is
// owned by one thread, so its partial sums need no synchronisation).
template <typename scalar_t, typename F>
void fused_backward(const scalar_t* grad_out, const float* x, const scalar_t* tables, const scalar_t* coefficients,
                    const int64_t* frame, const std::vector<LevelGeometry>& levels, int64_t N, int64_t B, int64_t K1,
                    int64_t T, F features, scalar_t* grad_tables, scalar_t* grad_coefficients_per_level) {
  const int64_t L = static_cast<int64_t>(levels.size());
  const int64_t width = L * features.value();
  const int64_t table_stride = T * features.value();
  for_each_level_and_sample(x, levels, N, [&](int64_t l, int64_t n, const CellCorners& corners) {
    scalar_t* grad_coef_level = grad_coefficients_per_level ? grad_coefficients_per_level + l * B * K1 : nullptr;
    const scalar_t* coef = coefficients + frame[n] * K1;
    with_local_row(grad_out + n * width + l * features.value(), features, [&](const scalar_t* g) {
      for (int64_t k = 0; k < K1; ++k) {
        scalar_t* grad_table = grad_tables + k * table_stride;
        const scalar_t* table = tables + k * table_stride;
        scalar_t dot = 0;  // d out[n, l] / d coef[k], contracted with g
        for (int c = 0; c < kCorners; ++c) {
          const int64_t row = int64_t(corners.row[c]) * features.value();
          add_scaled_row(grad_table + row, coef[k] * corners.weight[c], g, features);
          for (int64_t f = 0; f < features.value(); ++f) dot += corners.weight[c] * g[f] * table[row + f];
        }
        if (grad_coef_level) grad_coef_level[frame[n] * K1 + k] += dot;
      }
    });
  });
}

// The caller's `out`, else a recycled large buffer: a fresh [N, L*F] output (32 MB for 2^17 samples
// at the paper grid) would page-fault on every call.
at::Tensor cpu_output(const c10::optional<at::Tensor>& out, int64_t N, int64_t width, const at::TensorOptions& options) {
  return out.has_value() ? output_buffer(out, N, width, options) : empty_large_cpu({N, width}, options.dtype().toScalarType());
}

// out[i] = sum_j weight(i, j) * in[j] for I outputs and J >= 1 inputs of `values` values each
// (the blend and its chain rule), summed in increasing j, so `out` may start uninitialised. Chunk
// by chunk over the values, the larger of the two sets streams through memory once while the
// chunks of the smaller one stay in cache; either order gives the same sums.
template <typename scalar_t, typename Weight>
void weighted_sums(const scalar_t* in, int64_t J, scalar_t* out, int64_t I, int64_t values, Weight&& weight) {
  at::parallel_for(0, values, kBlendGrain, [&](int64_t begin, int64_t end) {
    const auto accumulate = [&](int64_t i, int64_t j) {
      scalar_t* o = out + i * values;
      const scalar_t* v = in + j * values;
      const scalar_t c = weight(i, j);
      if (j == 0) {
        for (int64_t e = begin; e < end; ++e) o[e] = c * v[e];  // the first input assigns: no zero pass
      } else {
        for (int64_t e = begin; e < end; ++e) o[e] += c * v[e];
      }
    };
    if (J >= I) {
      for (int64_t j = 0; j < J; ++j)
        for (int64_t i = 0; i < I; ++i) accumulate(i, j);
    } else {
      for (int64_t i = 0; i < I; ++i)
        for (int64_t j = 0; j < J; ++j) accumulate(i, j);
    }
  });
}

}  // namespace

at::Tensor hash_encode_forward_cpu(const at::Tensor& x_in, const at::Tensor& tables_in, const at::Tensor& frame_in,
                                   const at::Tensor& offsets, const at::Tensor& scales,
                                   const c10::optional<at::Tensor>& out_opt) {
  const auto levels = level_geometries(offsets, scales);
  check_samples(x_in, frame_in);
  check_tables(tables_in, offsets, "tables");
  check_device(tables_in, x_in, "tables");
  check_frame_range_cpu(frame_in, tables_in.size(0));
  const auto x = x_in.contiguous();
  const auto tables = tables_in.contiguous();
  const auto frame = frame_in.contiguous();
  const int64_t N = x.size(0), T = tables.size(1), F = tables.size(2);
  auto out = cpu_output(out_opt, N, static_cast<int64_t>(levels.size()) * F, tables.options());
  AT_DISPATCH_FLOATING_TYPES(tables.scalar_type(), "hash_encode_forward_cpu", [&] {
    dispatch_features(F, [&](auto features) {
      lookup_forward(x.data_ptr<float>(), tables.data_ptr<scalar_t>(), frame.data_ptr<int64_t>(), levels, N, T,
                     features, out.data_ptr<scalar_t>());
    });
  });
  return out;
}

at::Tensor hash_encode_backward_cpu(const at::Tensor& grad_out_in, const at::Tensor& x_in, const at::Tensor& frame_in,
                                    const at::Tensor& offsets, const at::Tensor& scales, int64_t num_tables,
                                    int64_t features) {
  const auto levels = level_geometries(offsets, scales);
  const int64_t L = static_cast<int64_t>(levels.size());
  check_samples(x_in, frame_in);
  check_device(grad_out_in, x_in, "grad_out");
  check_output_grad(grad_out_in, x_in.size(0), L * features);
  check_frame_range_cpu(frame_in, num_tables);
  const auto x = x_in.contiguous();
  const auto frame = frame_in.contiguous();
  const auto grad_out = grad_out_in.contiguous();
  const int64_t N = x.size(0), T = total_entries(offsets);
  auto grad = zeros_large_cpu({num_tables, T, features}, grad_out.scalar_type());
  AT_DISPATCH_FLOATING_TYPES(grad_out.scalar_type(), "hash_encode_backward_cpu", [&] {
    dispatch_features(features, [&](auto f) {
      lookup_backward(grad_out.data_ptr<scalar_t>(), x.data_ptr<float>(), frame.data_ptr<int64_t>(), levels, N, T, f,
                      grad.data_ptr<scalar_t>());
    });
  });
  return grad;
}

at::Tensor blend_forward_cpu(const at::Tensor& tables_in, const at::Tensor& coefficients_in) {
  TORCH_CHECK_VALUE(tables_in.dim() == 3, "blend: tables must be [K+1,T,F], got ", tables_in.sizes());
  check_coefficients(coefficients_in, tables_in);
  const auto tables = tables_in.contiguous();
  const auto coefficients = coefficients_in.contiguous();
  const int64_t B = coefficients.size(0), K1 = coefficients.size(1);
  const int64_t values = tables.size(1) * tables.size(2);
  auto blended = empty_large_cpu({B, tables.size(1), tables.size(2)}, tables.scalar_type());
  if (K1 == 0) return blended.zero_();
  AT_DISPATCH_FLOATING_TYPES(tables.scalar_type(), "blend_forward_cpu", [&] {
    const scalar_t* coef = coefficients.data_ptr<scalar_t>();
    weighted_sums(tables.data_ptr<scalar_t>(), K1, blended.data_ptr<scalar_t>(), B, values,
                  [&](int64_t b, int64_t k) { return coef[b * K1 + k]; });
  });
  return blended;
}

at::Tensor blend_backward_cpu(const at::Tensor& grad_blended_in, const at::Tensor& coefficients_in) {
  TORCH_CHECK_VALUE(grad_blended_in.dim() == 3 && coefficients_in.dim() == 2 &&
                        coefficients_in.size(0) == grad_blended_in.size(0) &&
                        coefficients_in.scalar_type() == grad_blended_in.scalar_type() &&
                        coefficients_in.device() == grad_blended_in.device(),
                    "blend backward: expected grad_blended [B,T,F] and coefficients [B,K+1] of one dtype and device, got ",
                    grad_blended_in.sizes(), " and ", coefficients_in.sizes());
  const auto grad_blended = grad_blended_in.contiguous();
  const auto coefficients = coefficients_in.contiguous();
  const int64_t B = coefficients.size(0), K1 = coefficients.size(1);
  const int64_t values = grad_blended.size(1) * grad_blended.size(2);
  if (B == 0) return at::zeros({K1, grad_blended.size(1), grad_blended.size(2)}, grad_blended.options());
  auto grad_tables = empty_large_cpu({K1, grad_blended.size(1), grad_blended.size(2)}, grad_blended.scalar_type());
  AT_DISPATCH_FLOATING_TYPES(grad_blended.scalar_type(), "blend_backward_cpu", [&] {
    const scalar_t* coef = coefficients.data_ptr<scalar_t>();
    weighted_sums(grad_blended.data_ptr<scalar_t>(), B, grad_tables.data_ptr<scalar_t>(), K1, values,
                  [&](int64_t k, int64_t b) { return coef[b * K1 + k]; });
  });
  return grad_tables;
}

at::Tensor blended_encode_forward_cpu(const at::Tensor& x_in, const at::Tensor& tables_in,
                                      const at::Tensor& coefficients_in, const at::Tensor& frame_in,
                                      const at::Tensor& offsets, const at::Tensor& scales,
                                      const c10::optional<at::Tensor>& out_opt) {
  const auto levels = level_geometries(offsets, scales);
  check_samples(x_in, frame_in);
  check_tables(tables_in, offsets, "tables");
  check_device(tables_in, x_in, "tables");
  check_coefficients(coefficients_in, tables_in);
  check_frame_range_cpu(frame_in, coefficients_in.size(0));
  const auto x = x_in.contiguous();
  const auto tables = tables_in.contiguous();
  const auto coefficients = coefficients_in.contiguous();
  const auto frame = frame_in.contiguous();
  const int64_t N = x.size(0), K1 = tables.size(0), T = tables.size(1), F = tables.size(2);
  auto out = cpu_output(out_opt, N, static_cast<int64_t>(levels.size()) * F, tables.options());
  AT_DISPATCH_FLOATING_TYPES(tables.scalar_type(), "blended_encode_forward_cpu", [&] {
    dispatch_features(F, [&](auto features) {
      fused_forward(x.data_ptr<float>(), tables.data_ptr<scalar_t>(), coefficients.data_ptr<scalar_t>(),
                    frame.data_ptr<int64_t>(), levels, N, K1, T, features, out.data_ptr<scalar_t>());
    });
  });
  return out;
}

std::vector<at::Tensor> blended_encode_backward_cpu(const at::Tensor& grad_out_in, const at::Tensor& x_in,
                                                    const at::Tensor& tables_in, const at::Tensor& coefficients_in,
                                                    const at::Tensor& frame_in, const at::Tensor& offsets,
                                                    const at::Tensor& scales, bool need_coefficient_grad) {
  const auto levels = level_geometries(offsets, scales);
  const int64_t L = static_cast<int64_t>(levels.size());
  check_samples(x_in, frame_in);
  check_tables(tables_in, offsets, "tables");
  check_device(tables_in, x_in, "tables");
  check_device(grad_out_in, x_in, "grad_out");
  check_coefficients(coefficients_in, tables_in);
  check_frame_range_cpu(frame_in, coefficients_in.size(0));
  const auto x = x_in.contiguous();
  const auto tables = tables_in.contiguous();
  const auto coefficients = coefficients_in.contiguous();
  const auto frame = frame_in.contiguous();
  const auto grad_out = grad_out_in.contiguous();
  const int64_t N = x.size(0), K1 = tables.size(0), T = tables.size(1), F = tables.size(2), B = coefficients.size(0);
  check_output_grad(grad_out, N, L * F);
  auto grad_tables = zeros_large_cpu(tables.sizes(), tables.scalar_type());
  at::Tensor grad_coef_per_level;
  if (need_coefficient_grad) grad_coef_per_level = at::zeros({L, B, K1}, tables.options());
  AT_DISPATCH_FLOATING_TYPES(tables.scalar_type(), "blended_encode_backward_cpu", [&] {
    dispatch_features(F, [&](auto features) {
      fused_backward(grad_out.data_ptr<scalar_t>(), x.data_ptr<float>(), tables.data_ptr<scalar_t>(),
                     coefficients.data_ptr<scalar_t>(), frame.data_ptr<int64_t>(), levels, N, B, K1, T, features,
                     grad_tables.data_ptr<scalar_t>(),
                     need_coefficient_grad ? grad_coef_per_level.data_ptr<scalar_t>() : nullptr);
    });
  });
  return {grad_tables, need_coefficient_grad ? grad_coef_per_level.sum(0) : at::Tensor()};
}

}  // namespace nbskit
