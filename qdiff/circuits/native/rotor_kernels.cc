// Native CPU kernels for a rotor layer (one-qubit unitaries on distinct qubits), called from
// XLA through JAX's foreign-function interface (qdiff/circuits/native/__init__.py compiles and
// registers them).
//
// State: complex128 amplitudes, row-major (k, 2**n); a gate acts on the bit `b` of the index, so
// its pairs are (i, i + 2**b) for every i whose bit b is 0.
//
// qdiff_rotor_apply:  psi <- (prod_g U_g) psi                  (the gates commute: distinct qubits)
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
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <utility>
#include <vector>

#include "xla/ffi/api/ffi.h"

namespace ffi = xla::ffi;

namespace {

// SIMD through the GCC/Clang vector extensions (portable C++17 for both compilers; the width is
// the widest the target has: 8 doubles with AVX-512, 4 with AVX, else 2).  A vector holds kCplx
// interleaved amplitudes (re, im, re, im, ...).  A complex product c * x is computed without
// de-interleaving as  re(c) * x + (im(c) * (-1, +1, ...)) * swap_ri(x),  swap_ri exchanging the
// real and imaginary lane of every amplitude (one in-lane shuffle, shared by all products of x).
#if defined(__AVX512F__)
#define QDIFF_VEC_BYTES 64
#elif defined(__AVX__)
#define QDIFF_VEC_BYTES 32
#else
#define QDIFF_VEC_BYTES 16
#endif
typedef double vd __attribute__((vector_size(QDIFF_VEC_BYTES)));
constexpr int kLanes = QDIFF_VEC_BYTES / 8;
constexpr int64_t kCplx = kLanes / 2;                                    // amplitudes per vector
constexpr int64_t kCplxBits = kCplx >= 4 ? 2 : kCplx >= 2 ? 1 : 0;    // log2(kCplx)
static_assert(kCplx == (int64_t(1) << kCplxBits), "vector width");

inline vd ld(const double* p) {
  vd v;
  std::memcpy(&v, p, sizeof v);
  return v;
}
inline void st(double* p, vd v) { std::memcpy(p, &v, sizeof v); }

// Lane permutation k -> k ^ S.
template <int S, size_t... I>
inline vd xor_perm(vd a, std::index_sequence<I...>) {
  return __builtin_shufflevector(a, a, (I ^ S)...);
}
template <int S>
inline vd perm(vd a) {
  return xor_perm<S>(a, std::make_index_sequence<kLanes>());
}
inline vd swap_ri(vd a) { return perm<1>(a); }

// A complex coefficient per amplitude slot: c * x = r * x + i * swap_ri(x).
struct CVec {
  vd r, i;
};
// The build allows reassociation (-fassociative-math); GCC then rebalances a chain of
// multiply-adds into a tree of multiplies and adds, which costs more instructions than the chain of
// fused multiply-adds.  keep() marks the evaluation order to be kept where the compiler has a way.
#if defined(__has_builtin)
#if __has_builtin(__builtin_assoc_barrier)
#define QDIFF_KEEP(x) __builtin_assoc_barrier(x)
#elif __has_builtin(__arithmetic_fence)
#define QDIFF_KEEP(x) __arithmetic_fence(x)
#endif
#endif
#ifndef QDIFF_KEEP
#define QDIFF_KEEP(x) (x)
#endif

// a x + b y as one multiply and three fused multiply-adds.
inline vd cmul2(const CVec& a, vd x, vd sx, const CVec& b, vd y, vd sy) {
  return QDIFF_KEEP(QDIFF_KEEP(QDIFF_KEEP(a.r * x) + a.i * sx) + b.r * y) + b.i * sy;
}
// c x + t, two fused multiply-adds.
inline vd cfma(const CVec& c, vd x, vd sx, vd t) { return QDIFF_KEEP(t + c.r * x) + c.i * sx; }
inline vd cmul(const CVec& c, vd x, vd sx) { return c.r * x + c.i * sx; }

template <class F>
CVec cvec(F&& coef) {
  CVec c;
  for (int k = 0; k < kLanes; ++k) {
    const std::complex<double> z = coef(k / 2);
    c.r[k] = z.real();
    c.i[k] = (k & 1) ? z.imag() : -z.imag();
  }
  return c;
}

// One gate's 2x2 matrix (row-major u) and its coefficient vectors: c00..c11 broadcast, for pairs
// whose members lie in different vectors; for pairs inside one vector (stride 2**sb < kCplx)
// in_own[sb] holds per slot the coefficient of the slot's own amplitude (u00 for the pair's first
// member, u11 for the second) and in_part[sb] that of the partner's, stored at the partner's slot
// (u10 at the first member's slot, u01 at the second's), so that
//   x' = in_own * x + partner_perm(in_part * x).
struct Mat {
  std::complex<double> u[4];
  CVec c00, c01, c10, c11;
  CVec in_own[2], in_part[2];
};

Mat load(const std::complex<double>* u) {
  Mat m;
  for (int k = 0; k < 4; ++k) m.u[k] = u[k];
  m.c00 = cvec([&](int) { return u[0]; });
  m.c01 = cvec([&](int) { return u[1]; });
  m.c10 = cvec([&](int) { return u[2]; });
  m.c11 = cvec([&](int) { return u[3]; });
  for (int sb = 0; sb < 2; ++sb) {
    m.in_own[sb] = cvec([&](int slot) { return ((slot >> sb) & 1) ? u[3] : u[0]; });
    m.in_part[sb] = cvec([&](int slot) { return ((slot >> sb) & 1) ? u[1] : u[2]; });
  }
  return m;
}

// Transition sums kept lane-wise over a gate's pairs, reduced once at the end of a call:
// d0 = sum(even lanes) - sum(odd lanes) of sum l0 * swap_ri(p0) (= sum l0r p0i - l0i p0r), d1 the
// same with l1, p1; Re off = sum of all lanes of sum (l0 p1 - l1 p0); Im off = even - odd lanes of
// sum (l0 swap_ri(p1) + l1 swap_ri(p0)).
struct Acc {
  vd d0, d1, orr, oii;
};
// Pairs inside one vector: dd = sum l swap_ri(p) (d0 from the first members' slots, d1 from the
// second members'), orr = sum l * partner(p) (Re off = first members' lanes - second members'),
// oii = sum swap_ri(l) * partner(p) (Im off = odd lanes - even lanes).
struct AccIn {
  vd dd, orr, oii;
};

// (a, b) <- u (a, b) elementwise over len amplitudes (a multiple of kCplx).
inline void apply_run(double* __restrict a, double* __restrict b, int64_t len, const Mat& u) {
  for (int64_t i = 0; i < 2 * len; i += kLanes) {
    const vd x = ld(a + i), y = ld(b + i), sx = swap_ri(x), sy = swap_ri(y);
    st(a + i, cmul2(u.c00, x, sx, u.c01, y, sy));
    st(b + i, cmul2(u.c10, x, sx, u.c11, y, sy));
  }
}

// Gate of stride 2**SB < kCplx on blk amplitudes (a multiple of kCplx): pairs inside each vector.
template <int SB>
inline void apply_in(double* __restrict x, int64_t blk, const Mat& u) {
  const CVec& own = u.in_own[SB];
  const CVec& part = u.in_part[SB];
  for (int64_t i = 0; i < 2 * blk; i += kLanes) {
    const vd v = ld(x + i), sv = swap_ri(v);
    st(x + i, cfma(own, v, sv, perm<(2 << SB)>(cmul(part, v, sv))));
  }
}

// Undo one gate (v = U^dagger) on the pairs (pa, pb) of psi and (la, lb) of lam, len amplitudes
// (a multiple of kCplx), adding the transition sums (taken before the undo) to acc.
inline void back_run(double* __restrict pa, double* __restrict pb, double* __restrict la,
                     double* __restrict lb, int64_t len, const Mat& v, Acc& acc) {
  vd d0 = acc.d0, d1 = acc.d1, orr = acc.orr, oii = acc.oii;
  for (int64_t i = 0; i < 2 * len; i += kLanes) {
    const vd p0 = ld(pa + i), p1 = ld(pb + i), l0 = ld(la + i), l1 = ld(lb + i);
    const vd sp0 = swap_ri(p0), sp1 = swap_ri(p1), sl0 = swap_ri(l0), sl1 = swap_ri(l1);
    d0 += l0 * sp0;
    d1 += l1 * sp1;
    orr = QDIFF_KEEP(orr + l0 * p1) - l1 * p0;
    oii = QDIFF_KEEP(oii + l0 * sp1) + l1 * sp0;
    st(pa + i, cmul2(v.c00, p0, sp0, v.c01, p1, sp1));
    st(pb + i, cmul2(v.c10, p0, sp0, v.c11, p1, sp1));
    st(la + i, cmul2(v.c00, l0, sl0, v.c01, l1, sl1));
    st(lb + i, cmul2(v.c10, l0, sl0, v.c11, l1, sl1));
  }
  acc = {d0, d1, orr, oii};
}

template <int SB>
inline void back_in(double* __restrict p, double* __restrict l, int64_t blk, const Mat& v, AccIn& acc) {
  const CVec& own = v.in_own[SB];
  const CVec& part = v.in_part[SB];
  vd dd = acc.dd, orr = acc.orr, oii = acc.oii;
  for (int64_t i = 0; i < 2 * blk; i += kLanes) {
    const vd x = ld(p + i), y = ld(l + i), sx = swap_ri(x), sy = swap_ri(y), xp = perm<(2 << SB)>(x);
    dd += y * sx;
    orr += y * xp;
    oii += sy * xp;
    st(p + i, cfma(own, x, sx, perm<(2 << SB)>(cmul(part, x, sx))));
    st(l + i, cfma(own, y, sy, perm<(2 << SB)>(cmul(part, y, sy))));
  }
  acc = {dd, orr, oii};
}

void reduce(const Acc& a, double* out) {
  for (int k = 0; k < kLanes; ++k) {
    const double e = (k & 1) ? -1.0 : 1.0;
    out[0] += e * a.d0[k];
    out[1] += e * a.d1[k];
    out[2] += a.orr[k];
    out[3] += e * a.oii[k];
  }
}

void reduce_in(const AccIn& a, int64_t sb, double* out) {
  for (int k = 0; k < kLanes; ++k) {
    const double e = (k & 1) ? -1.0 : 1.0;
    const int64_t second = ((k / 2) >> sb) & 1;
    out[second] += e * a.dd[k];
    out[2] += second ? -a.orr[k] : a.orr[k];
    out[3] -= e * a.oii[k];
  }
}

// States smaller than one vector (n = 1 with AVX-512): plain complex arithmetic.
void apply_tiny(double* s, int64_t nstate, int64_t b, const Mat& u) {
  auto* z = reinterpret_cast<std::complex<double>*>(s);
  const int64_t st = int64_t(1) << b;
  for (int64_t i = 0; i < nstate; ++i)
    if (!(i & st)) {
      const std::complex<double> a = z[i], c = z[i + st];
      z[i] = u.u[0] * a + u.u[1] * c;
      z[i + st] = u.u[2] * a + u.u[3] * c;
    }
}

void back_tiny(double* p, double* l, int64_t nstate, int64_t b, const Mat& v, double* acc) {
  auto* zp = reinterpret_cast<std::complex<double>*>(p);
  auto* zl = reinterpret_cast<std::complex<double>*>(l);
  const int64_t st = int64_t(1) << b;
  for (int64_t i = 0; i < nstate; ++i)
    if (!(i & st)) {
      const std::complex<double> p0 = zp[i], p1 = zp[i + st], l0 = zl[i], l1 = zl[i + st];
      acc[0] += std::imag(std::conj(l0) * p0);
      acc[1] += std::imag(std::conj(l1) * p1);
      const std::complex<double> off = std::conj(l0) * p1 - l1 * std::conj(p0);
      acc[2] += off.real();
      acc[3] += off.imag();
      zp[i] = v.u[0] * p0 + v.u[1] * p1;
      zp[i + st] = v.u[2] * p0 + v.u[3] * p1;
      zl[i] = v.u[0] * l0 + v.u[1] * l1;
      zl[i + st] = v.u[2] * l0 + v.u[3] * l1;
    }
}

// The gates of one layer split by where their pairs lie: `low` gates have both members of a pair
// inside every aligned block of 2**block_bits amplitudes; `high` gates (larger strides) are visited
// in tiles: for a group of at most tile_gates high bits, a tile holds the 2**k rows obtained by
// setting those bits in every way, each row a contiguous chunk of 2**cb amplitudes, so all the
// group's gates run on the tile while it is in the cache (one pass over the state per group
// instead of one per gate).
// The tile of a layer_back pass has 2**(block_bits + 1) amplitudes of each of psi and lam, that of
// a layer_apply pass 2**(block_bits + 2) of the one state.  Blocks and rows hold at least one
// vector (block_bits >= kCplxBits, cb >= kCplxBits).
struct Plan {
  int64_t block_bits;
  std::vector<int64_t> low;                // gate indices, in the order given
  std::vector<std::vector<int64_t>> high;  // groups of gate indices, bits ascending
};

Plan plan(ffi::Span<const int64_t> bits, int64_t block_bits, int64_t tile_gates) {
  Plan p{std::max(block_bits, kCplxBits), {}, {}};
  std::vector<int64_t> hi;
  for (int64_t g = 0; g < static_cast<int64_t>(bits.size()); ++g)
    (bits[g] < p.block_bits ? p.low : hi).push_back(g);
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
  const int64_t cb = std::min(bits[group[0]], std::max<int64_t>(kCplxBits, tile_bits - k));
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
  if (nstate < kCplx) {
    for (size_t g = 0; g < bits.size(); ++g) apply_tiny(s, nstate, bits[g], mats[g]);
    return;
  }
  const int64_t blk = std::min<int64_t>(nstate, int64_t(1) << p.block_bits);
  if (!p.low.empty())
    for (int64_t base = 0; base < nstate; base += blk) {
      double* x = s + 2 * base;
      for (int64_t g : p.low) {
        const int64_t st = int64_t(1) << bits[g];
        if (st >= kCplx) {
          for (int64_t j = 0; j < blk; j += 2 * st) apply_run(x + 2 * j, x + 2 * (j + st), st, mats[g]);
        } else if constexpr (kCplx > 1) {
          if (bits[g] == 0) {
            apply_in<0>(x, blk, mats[g]);
          } else if constexpr (kCplx > 2) {
            apply_in<1>(x, blk, mats[g]);
          }
        }
      }
    }
  for (const auto& group : p.high)
    tile_pass(nbits, bits, group, p.block_bits + 2, [&](int64_t g, int64_t o0, int64_t o1, int64_t len) {
      apply_run(s + 2 * o0, s + 2 * o1, len, mats[g]);
    });
}

void layer_back(double* p, double* l, int64_t nbits, ffi::Span<const int64_t> bits,
                const Plan& pl, const std::vector<Mat>& mats, double* acc) {
  const int64_t nstate = int64_t(1) << nbits;
  const size_t m = bits.size();
  if (nstate < kCplx) {
    for (size_t g = 0; g < m; ++g) back_tiny(p, l, nstate, bits[g], mats[g], acc + 4 * g);
    return;
  }
  std::vector<Acc> accs(m, Acc{vd{}, vd{}, vd{}, vd{}});
  std::vector<AccIn> accin(m, AccIn{vd{}, vd{}, vd{}});
  const int64_t blk = std::min<int64_t>(nstate, int64_t(1) << pl.block_bits);
  if (!pl.low.empty())
    for (int64_t base = 0; base < nstate; base += blk) {
      double* x = p + 2 * base;
      double* y = l + 2 * base;
      for (int64_t g : pl.low) {
        const int64_t st = int64_t(1) << bits[g];
        if (st >= kCplx) {
          for (int64_t j = 0; j < blk; j += 2 * st)
            back_run(x + 2 * j, x + 2 * (j + st), y + 2 * j, y + 2 * (j + st), st, mats[g], accs[g]);
        } else if constexpr (kCplx > 1) {
          if (bits[g] == 0) {
            back_in<0>(x, y, blk, mats[g], accin[g]);
          } else if constexpr (kCplx > 2) {
            back_in<1>(x, y, blk, mats[g], accin[g]);
          }
        }
      }
    }
  for (const auto& group : pl.high)
    tile_pass(nbits, bits, group, pl.block_bits + 1, [&](int64_t g, int64_t o0, int64_t o1, int64_t len) {
      back_run(p + 2 * o0, p + 2 * o1, l + 2 * o0, l + 2 * o1, len, mats[g], accs[g]);
    });
  for (size_t g = 0; g < m; ++g) {
    reduce(accs[g], acc + 4 * g);
    if (bits[g] < kCplxBits) reduce_in(accin[g], bits[g], acc + 4 * g);
  }
}

int64_t log2_exact(int64_t n) {
  int64_t b = 0;
  while ((int64_t(1) << b) < n) ++b;
  return (int64_t(1) << b) == n ? b : -1;
}

ffi::Error check_gates(int64_t nstate, ffi::Span<const int64_t> bits, int64_t nmats,
                       int64_t block_bits, int64_t tile_gates) {
  if (log2_exact(nstate) < 1) return ffi::Error::InvalidArgument("rotor kernel: state size is not 2**n");
  if (block_bits < 1 || block_bits > 30 || tile_gates < 1 || tile_gates > 16)
    return ffi::Error::InvalidArgument("rotor kernel: block_bits or tile_gates out of range");
  if (nmats != static_cast<int64_t>(bits.size()) * 4)
    return ffi::Error::InvalidArgument("rotor kernel: one 2x2 matrix per bit expected");
  for (size_t g = 0; g < bits.size(); ++g) {
    if (bits[g] < 0 || (int64_t(1) << bits[g]) >= nstate)
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
  if (auto e = check_gates(nstate, bits, us.element_count(), block_bits, tile_gates); e.failure())
    return e;
  const int64_t rows = psi.element_count() / nstate, nbits = log2_exact(nstate);
  std::vector<Mat> mats(bits.size());
  for (size_t g = 0; g < bits.size(); ++g) mats[g] = load(us.typed_data() + 4 * g);
  const Plan p = plan(bits, block_bits, tile_gates);
  for (int64_t r = 0; r < rows; ++r) {
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
  if (auto e = check_gates(nstate, bits, vs.element_count(), block_bits, tile_gates); e.failure())
    return e;
  if (lam.element_count() != psi.element_count())
    return ffi::Error::InvalidArgument("rotor kernel: psi and lam differ in size");
  const int64_t rows = psi.element_count() / nstate, nbits = log2_exact(nstate);
  const int64_t m = bits.size();
  if (trans->element_count() != rows * m * 4)
    return ffi::Error::InvalidArgument("rotor kernel: transition output has the wrong size");
  std::vector<Mat> mats(m);
  for (int64_t g = 0; g < m; ++g) mats[g] = load(vs.typed_data() + 4 * g);
  const Plan p = plan(bits, block_bits, tile_gates);
  const size_t bytes = sizeof(std::complex<double>) * nstate;
  for (int64_t r = 0; r < rows; ++r) {
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

}  // namespace

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
