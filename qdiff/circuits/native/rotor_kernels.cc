// Native CPU kernels for a rotor layer (one-qubit unitaries on distinct qubits), called from
// XLA through JAX's foreign-function interface (qdiff/circuits/native/__init__.py compiles and
// registers them).
//
// State: complex128 amplitudes, row-major (k, 2**n); a gate acts on the bit `b` of the index, so
// its pairs are (i, i + 2**b) for every i whose bit b is 0.
//
// qdiff_rotor_apply:  psi <- (prod_g U_g) psi                  (the gates commute: distinct qubits)
// qdiff_permute:     out = psi[idx] (a permutation of the basis, e.g. a CNOT ring), one pass.
// qdiff_rotor_back:   the reversible-adjoint step of the layer: psi <- V psi, lam <- V lam with
//                     V = prod_g U_g^dagger (given as `vs`), and per gate the reduced transition
//                     matrix of the state *before* the undo,
//                        d0 = sum Im(conj(l0) p0),  d1 = sum Im(conj(l1) p1),
//                        off = sum conj(l0) p1 - l1 conj(p0)       (over the gate's pairs),
//                     i.e. M' = [[i d0, off], [0, i d1]] of qdiff.circuits.rotor.qubit_transitions.
//                     Every M_q is unchanged by the other qubits' (unitary) gates, so the order in
//                     which the gates are undone does not matter.
//
// Both kernels take the gates whose pairs lie inside a block of 2**block_bits amplitudes one block
// at a time (all such gates per block while it sits in the cache), then the remaining gates in
// tiles of up to tile_gates gates (one pass over the state per tile group; see Plan).
#include <algorithm>
#include <complex>
#include <cstdint>
#include <cstring>
#include <vector>

#include "xla/ffi/api/ffi.h"

namespace ffi = xla::ffi;

namespace {

struct Mat {
  double r00, i00, r01, i01, r10, i10, r11, i11;
};

Mat load(const std::complex<double>* u) {
  return {u[0].real(), u[0].imag(), u[1].real(), u[1].imag(),
          u[2].real(), u[2].imag(), u[3].real(), u[3].imag()};
}

// (a, b) <- u (a, b) elementwise over len amplitudes (a, b: interleaved re/im).
inline void apply_vec(double* __restrict a, double* __restrict b, int64_t len, const Mat& u) {
  for (int64_t i = 0; i < 2 * len; i += 2) {
    const double ar = a[i], ai = a[i + 1], br = b[i], bi = b[i + 1];
    a[i] = u.r00 * ar - u.i00 * ai + u.r01 * br - u.i01 * bi;
    a[i + 1] = u.r00 * ai + u.i00 * ar + u.r01 * bi + u.i01 * br;
    b[i] = u.r10 * ar - u.i10 * ai + u.r11 * br - u.i11 * bi;
    b[i + 1] = u.r10 * ai + u.i10 * ar + u.r11 * bi + u.i11 * br;
  }
}

// Undo one gate (v = U^dagger) on the pairs (pa, pb) of psi and (la, lb) of lam, len amplitudes,
// adding the reduced transition sums (taken before the undo) to acc[0..4).
inline void back_vec(double* __restrict pa, double* __restrict pb, double* __restrict la,
                     double* __restrict lb, int64_t len, const Mat& v, double* acc) {
  double d0 = 0, d1 = 0, orr = 0, oii = 0;
  for (int64_t i = 0; i < 2 * len; i += 2) {
    const double p0r = pa[i], p0i = pa[i + 1], p1r = pb[i], p1i = pb[i + 1];
    const double l0r = la[i], l0i = la[i + 1], l1r = lb[i], l1i = lb[i + 1];
    d0 += l0r * p0i - l0i * p0r;
    d1 += l1r * p1i - l1i * p1r;
    orr += (l0r * p1r + l0i * p1i) - (l1r * p0r + l1i * p0i);
    oii += (l0r * p1i - l0i * p1r) + (l1r * p0i - l1i * p0r);
    pa[i] = v.r00 * p0r - v.i00 * p0i + v.r01 * p1r - v.i01 * p1i;
    pa[i + 1] = v.r00 * p0i + v.i00 * p0r + v.r01 * p1i + v.i01 * p1r;
    pb[i] = v.r10 * p0r - v.i10 * p0i + v.r11 * p1r - v.i11 * p1i;
    pb[i + 1] = v.r10 * p0i + v.i10 * p0r + v.r11 * p1i + v.i11 * p1r;
    la[i] = v.r00 * l0r - v.i00 * l0i + v.r01 * l1r - v.i01 * l1i;
    la[i + 1] = v.r00 * l0i + v.i00 * l0r + v.r01 * l1i + v.i01 * l1r;
    lb[i] = v.r10 * l0r - v.i10 * l0i + v.r11 * l1r - v.i11 * l1i;
    lb[i + 1] = v.r10 * l0i + v.i10 * l0r + v.r11 * l1i + v.i11 * l1r;
  }
  acc[0] += d0;
  acc[1] += d1;
  acc[2] += orr;
  acc[3] += oii;
}

// Small strides (st < 4): a call per pair run of length st would pay the loop set-up (and in
// back_vec the accumulators) for every one or two pairs.  Instead the block is walked as st
// interleaved sequences with a fixed step of 2 st amplitudes between consecutive pairs, which the
// compiler vectorises with strided loads.
inline void apply_small(double* __restrict x, int64_t blk, int64_t st, const Mat& u) {
  const int64_t step = 4 * st;  // doubles between consecutive pairs of one sequence
  for (int64_t r = 0; r < st; ++r) {
    double* __restrict a = x + 2 * r;
    double* __restrict b = a + 2 * st;
    for (int64_t i = 0; i < 2 * blk; i += step) {
      const double ar = a[i], ai = a[i + 1], br = b[i], bi = b[i + 1];
      a[i] = u.r00 * ar - u.i00 * ai + u.r01 * br - u.i01 * bi;
      a[i + 1] = u.r00 * ai + u.i00 * ar + u.r01 * bi + u.i01 * br;
      b[i] = u.r10 * ar - u.i10 * ai + u.r11 * br - u.i11 * bi;
      b[i + 1] = u.r10 * ai + u.i10 * ar + u.r11 * bi + u.i11 * br;
    }
  }
}

inline void back_small(double* __restrict p, double* __restrict l, int64_t blk, int64_t st,
                       const Mat& v, double* acc) {
  const int64_t step = 4 * st;
  double d0 = 0, d1 = 0, orr = 0, oii = 0;
  for (int64_t r = 0; r < st; ++r) {
    double* __restrict pa = p + 2 * r;
    double* __restrict pb = pa + 2 * st;
    double* __restrict la = l + 2 * r;
    double* __restrict lb = la + 2 * st;
    for (int64_t i = 0; i < 2 * blk; i += step) {
      const double p0r = pa[i], p0i = pa[i + 1], p1r = pb[i], p1i = pb[i + 1];
      const double l0r = la[i], l0i = la[i + 1], l1r = lb[i], l1i = lb[i + 1];
      d0 += l0r * p0i - l0i * p0r;
      d1 += l1r * p1i - l1i * p1r;
      orr += (l0r * p1r + l0i * p1i) - (l1r * p0r + l1i * p0i);
      oii += (l0r * p1i - l0i * p1r) + (l1r * p0i - l1i * p0r);
      pa[i] = v.r00 * p0r - v.i00 * p0i + v.r01 * p1r - v.i01 * p1i;
      pa[i + 1] = v.r00 * p0i + v.i00 * p0r + v.r01 * p1i + v.i01 * p1r;
      pb[i] = v.r10 * p0r - v.i10 * p0i + v.r11 * p1r - v.i11 * p1i;
      pb[i + 1] = v.r10 * p0i + v.i10 * p0r + v.r11 * p1i + v.i11 * p1r;
      la[i] = v.r00 * l0r - v.i00 * l0i + v.r01 * l1r - v.i01 * l1i;
      la[i + 1] = v.r00 * l0i + v.i00 * l0r + v.r01 * l1i + v.i01 * l1r;
      lb[i] = v.r10 * l0r - v.i10 * l0i + v.r11 * l1r - v.i11 * l1i;
      lb[i + 1] = v.r10 * l0i + v.i10 * l0r + v.r11 * l1i + v.i11 * l1r;
    }
  }
  acc[0] += d0;
  acc[1] += d1;
  acc[2] += orr;
  acc[3] += oii;
}

constexpr int64_t kSmallStride = 4;

// The gates of one layer split by where their pairs lie: `low` gates have both members of a pair
// inside every aligned block of 2**block_bits amplitudes; `high` gates (larger strides) are visited
// in tiles: for a group of at most tile_gates high bits, a tile holds the 2**k rows obtained by
// setting those bits in every way, each row a contiguous chunk of 2**cb amplitudes, so all the
// group's gates run on the tile while it is in the cache (one pass over the state per group
// instead of one per gate).
// The tile of a layer_back pass has 2**(block_bits + 1) amplitudes of each of psi and lam, that of
// a layer_apply pass 2**(block_bits + 2) of the one state.
struct Plan {
  int64_t block_bits;
  std::vector<int64_t> low;                // gate indices, in the order given
  std::vector<std::vector<int64_t>> high;  // groups of gate indices, bits ascending
};

Plan plan(ffi::Span<const int64_t> bits, int64_t block_bits, int64_t tile_gates) {
  Plan p{block_bits, {}, {}};
  std::vector<int64_t> hi;
  for (int64_t g = 0; g < static_cast<int64_t>(bits.size()); ++g)
    (bits[g] < block_bits ? p.low : hi).push_back(g);
  std::sort(hi.begin(), hi.end(), [&](int64_t a, int64_t b) { return bits[a] < bits[b]; });
  for (size_t i = 0; i < hi.size(); i += tile_gates)
    p.high.emplace_back(hi.begin() + i, hi.begin() + std::min<size_t>(hi.size(), i + tile_gates));
  return p;
}

// Call fn(gate, offset0, offset1, len) for every pair run of the gates in `group` (amplitude
// offsets into a state of 2**nbits), tile by tile; a tile has about 2**tile_bits amplitudes.
template <class F>
void tile_pass(int64_t nbits, ffi::Span<const int64_t> bits, const std::vector<int64_t>& group,
               int64_t tile_bits, F&& fn) {
  const int64_t k = group.size();
  const int64_t cb = std::min(bits[group[0]], std::max<int64_t>(0, tile_bits - k));
  std::vector<int64_t> free;
  for (int64_t b = cb; b < nbits; ++b) {
    bool used = false;
    for (int64_t g : group) used |= bits[g] == b;
    if (!used) free.push_back(b);
  }
  const int64_t rows = int64_t(1) << k, len = int64_t(1) << cb;
  std::vector<int64_t> off(rows);
  for (int64_t j = 0; j < (int64_t(1) << free.size()); ++j) {
    int64_t base = 0;
    for (size_t r = 0; r < free.size(); ++r)
      if ((j >> r) & 1) base |= int64_t(1) << free[r];
    off[0] = base;
    for (int64_t t = 1; t < rows; ++t) {
      const int64_t r = __builtin_ctzll(t);
      off[t] = off[t & (t - 1)] + (int64_t(1) << bits[group[r]]);
    }
    for (int64_t r = 0; r < k; ++r)
      for (int64_t t = 0; t < rows; ++t)
        if (!((t >> r) & 1)) fn(group[r], off[t], off[t | (int64_t(1) << r)], len);
  }
}

void layer_apply(double* s, int64_t nbits, ffi::Span<const int64_t> bits, const Plan& p,
                 const std::vector<Mat>& mats) {
  const int64_t nstate = int64_t(1) << nbits;
  const int64_t blk = std::min<int64_t>(nstate, int64_t(1) << p.block_bits);
  if (!p.low.empty())
    for (int64_t base = 0; base < nstate; base += blk)
      for (int64_t g : p.low) {
        const int64_t st = int64_t(1) << bits[g];
        double* x = s + 2 * base;
        if (st < kSmallStride) {
          apply_small(x, blk, st, mats[g]);
          continue;
        }
        for (int64_t j = 0; j < blk; j += 2 * st) apply_vec(x + 2 * j, x + 2 * (j + st), st, mats[g]);
      }
  for (const auto& group : p.high)
    tile_pass(nbits, bits, group, p.block_bits + 2, [&](int64_t g, int64_t o0, int64_t o1, int64_t len) {
      apply_vec(s + 2 * o0, s + 2 * o1, len, mats[g]);
    });
}

void layer_back(double* p, double* l, int64_t nbits, ffi::Span<const int64_t> bits,
                const Plan& pl, const std::vector<Mat>& mats, double* acc) {
  const int64_t nstate = int64_t(1) << nbits;
  const int64_t blk = std::min<int64_t>(nstate, int64_t(1) << pl.block_bits);
  if (!pl.low.empty())
    for (int64_t base = 0; base < nstate; base += blk)
      for (int64_t g : pl.low) {
        const int64_t st = int64_t(1) << bits[g];
        double* x = p + 2 * base;
        double* y = l + 2 * base;
        if (st < kSmallStride) {
          back_small(x, y, blk, st, mats[g], acc + 4 * g);
          continue;
        }
        for (int64_t j = 0; j < blk; j += 2 * st)
          back_vec(x + 2 * j, x + 2 * (j + st), y + 2 * j, y + 2 * (j + st), st, mats[g], acc + 4 * g);
      }
  for (const auto& group : pl.high)
    tile_pass(nbits, bits, group, pl.block_bits + 1, [&](int64_t g, int64_t o0, int64_t o1, int64_t len) {
      back_vec(p + 2 * o0, p + 2 * o1, l + 2 * o0, l + 2 * o1, len, mats[g], acc + 4 * g);
    });
}

int64_t log2_exact(int64_t n) {
  int64_t b = 0;
  while ((int64_t(1) << b) < n) ++b;
  return (int64_t(1) << b) == n ? b : -1;
}

// The matrices come in `sets` of one 2x2 matrix per bit: one set for all rows of the state, or one
// per group of rows (rows / sets consecutive rows each: a batch of states with their own gates).
ffi::Error check_gates(int64_t nstate, int64_t rows, ffi::Span<const int64_t> bits, int64_t nmats,
                       int64_t block_bits, int64_t tile_gates, int64_t* sets) {
  if (log2_exact(nstate) < 1) return ffi::Error::InvalidArgument("rotor kernel: state size is not 2**n");
  if (block_bits < 1 || block_bits > 30 || tile_gates < 1 || tile_gates > 16)
    return ffi::Error::InvalidArgument("rotor kernel: block_bits or tile_gates out of range");
  const int64_t per_set = static_cast<int64_t>(bits.size()) * 4;
  *sets = per_set ? nmats / per_set : 1;
  if ((per_set ? nmats % per_set : nmats) != 0 || *sets < 1 || rows % *sets != 0)
    return ffi::Error::InvalidArgument(
        "rotor kernel: expected one 2x2 matrix per bit, for all rows or for each group of rows");
  for (size_t g = 0; g < bits.size(); ++g) {
    if (bits[g] < 0 || bits[g] >= log2_exact(nstate))  // not 1 << bits[g]: undefined from 63 on
      return ffi::Error::InvalidArgument("rotor kernel: bit position out of range");
    for (size_t h = 0; h < g; ++h)
      if (bits[h] == bits[g]) return ffi::Error::InvalidArgument("rotor kernel: repeated bit position");
  }
  return ffi::Error::Success();
}

ffi::Error RotorApply(ffi::Buffer<ffi::C128> psi, ffi::Buffer<ffi::C128> us,
                      ffi::Span<const int64_t> bits, int64_t block_bits, int64_t tile_gates,
                      ffi::ResultBuffer<ffi::C128> out) {
  const int64_t nstate = psi.dimensions().back();
  const int64_t rows = nstate ? psi.element_count() / nstate : 0;
  int64_t sets = 1;
  if (auto e = check_gates(nstate, rows, bits, us.element_count(), block_bits, tile_gates, &sets);
      e.failure())
    return e;
  const int64_t nbits = log2_exact(nstate), m = bits.size();
  std::vector<Mat> mats(m);
  const Plan p = plan(bits, block_bits, tile_gates);
  for (int64_t r = 0; r < rows; ++r) {
    if (r % (rows / sets) == 0)
      for (int64_t g = 0; g < m; ++g) mats[g] = load(us.typed_data() + 4 * (r / (rows / sets) * m + g));
    const std::complex<double>* src = psi.typed_data() + r * nstate;
    std::complex<double>* dst = out->typed_data() + r * nstate;
    if (dst != src) std::memcpy(dst, src, sizeof(std::complex<double>) * nstate);
    layer_apply(reinterpret_cast<double*>(dst), nbits, bits, p, mats);
  }
  return ffi::Error::Success();
}

ffi::Error RotorBack(ffi::Buffer<ffi::C128> psi, ffi::Buffer<ffi::C128> lam,
                     ffi::Buffer<ffi::C128> vs, ffi::Span<const int64_t> bits,
                     int64_t block_bits, int64_t tile_gates, ffi::ResultBuffer<ffi::C128> psi_out, ffi::ResultBuffer<ffi::C128> lam_out,
                     ffi::ResultBuffer<ffi::F64> trans) {
  const int64_t nstate = psi.dimensions().back();
  const int64_t rows = nstate ? psi.element_count() / nstate : 0;
  int64_t sets = 1;
  if (auto e = check_gates(nstate, rows, bits, vs.element_count(), block_bits, tile_gates, &sets);
      e.failure())
    return e;
  if (lam.element_count() != psi.element_count())
    return ffi::Error::InvalidArgument("rotor kernel: psi and lam differ in size");
  const int64_t nbits = log2_exact(nstate), m = bits.size();
  if (trans->element_count() != rows * m * 4)
    return ffi::Error::InvalidArgument("rotor kernel: transition output has the wrong size");
  std::vector<Mat> mats(m);
  const Plan p = plan(bits, block_bits, tile_gates);
  const size_t bytes = sizeof(std::complex<double>) * nstate;
  for (int64_t r = 0; r < rows; ++r) {
    if (r % (rows / sets) == 0)
      for (int64_t g = 0; g < m; ++g) mats[g] = load(vs.typed_data() + 4 * (r / (rows / sets) * m + g));
    std::complex<double>* pd = psi_out->typed_data() + r * nstate;
    std::complex<double>* ld = lam_out->typed_data() + r * nstate;
    if (pd != psi.typed_data() + r * nstate) std::memcpy(pd, psi.typed_data() + r * nstate, bytes);
    if (ld != lam.typed_data() + r * nstate) std::memcpy(ld, lam.typed_data() + r * nstate, bytes);
    double* acc = trans->typed_data() + r * m * 4;
    std::fill(acc, acc + 4 * m, 0.0);
    layer_back(reinterpret_cast<double*>(pd), reinterpret_cast<double*>(ld), nbits, bits, p, mats, acc);
  }
  return ffi::Error::Success();
}

// out[r, x] = psi[r mod rows_in, idx[x] mod 2**n] (idx shared by all rows, or one index row per
// output row).
ffi::Error Permute(ffi::Buffer<ffi::C128> psi, ffi::Buffer<ffi::S32> idx,
                   ffi::ResultBuffer<ffi::C128> out) {
  const int64_t nstate = psi.dimensions().back();
  const int64_t rows_in = nstate ? psi.element_count() / nstate : 0;
  const int64_t rows = nstate ? out->element_count() / nstate : 0;
  const int64_t irows = nstate ? idx.element_count() / nstate : 0;
  if (rows_in < 1 || rows % rows_in != 0 || (irows != 1 && irows != rows) ||
      idx.element_count() != irows * nstate)
    return ffi::Error::InvalidArgument("permute kernel: inconsistent shapes");
  const int32_t* ix = idx.typed_data();
  const int64_t mask = nstate - 1;  // indices are taken modulo 2**n: never a read out of bounds
  for (int64_t r = 0; r < rows; ++r) {
    const double* __restrict src = reinterpret_cast<const double*>(psi.typed_data() + (r % rows_in) * nstate);
    double* __restrict dst = reinterpret_cast<double*>(out->typed_data() + r * nstate);
    const int32_t* __restrict k = ix + (irows == 1 ? 0 : r * nstate);
    for (int64_t x = 0; x < nstate; ++x) {
      const int64_t j = 2 * (k[x] & mask);
      dst[2 * x] = src[j];
      dst[2 * x + 1] = src[j + 1];
    }
  }
  return ffi::Error::Success();
}

}  // namespace

XLA_FFI_DEFINE_HANDLER_SYMBOL(qdiff_permute, Permute,
                              ffi::Ffi::Bind()
                                  .Arg<ffi::Buffer<ffi::C128>>()
                                  .Arg<ffi::Buffer<ffi::S32>>()
                                  .Ret<ffi::Buffer<ffi::C128>>());

XLA_FFI_DEFINE_HANDLER_SYMBOL(qdiff_rotor_apply, RotorApply,
                              ffi::Ffi::Bind()
                                  .Arg<ffi::Buffer<ffi::C128>>()
                                  .Arg<ffi::Buffer<ffi::C128>>()
                                  .Attr<ffi::Span<const int64_t>>("bits")
                                  .Attr<int64_t>("block_bits")
                                  .Attr<int64_t>("tile_gates")
                                  .Ret<ffi::Buffer<ffi::C128>>());

XLA_FFI_DEFINE_HANDLER_SYMBOL(qdiff_rotor_back, RotorBack,
                              ffi::Ffi::Bind()
                                  .Arg<ffi::Buffer<ffi::C128>>()
                                  .Arg<ffi::Buffer<ffi::C128>>()
                                  .Arg<ffi::Buffer<ffi::C128>>()
                                  .Attr<ffi::Span<const int64_t>>("bits")
                                  .Attr<int64_t>("block_bits")
                                  .Attr<int64_t>("tile_gates")
                                  .Ret<ffi::Buffer<ffi::C128>>()
                                  .Ret<ffi::Buffer<ffi::C128>>()
                                  .Ret<ffi::Buffer<ffi::F64>>());
