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
// tiles of up to tile_gates gates (one pass over the state per tile group; see Plan).  Inside a
// block or tile the gates run two at a time on amplitudes held in SIMD registers (see "quad"); the
// arithmetic is explicit SIMD through the compiler's vector extensions (see vd), and the
// transition sums are kept lane-wise per gate and reduced once per call.
// benchmarks/native_kernels_harness.cc checks and times these functions without XLA.
#include <algorithm>
#include <complex>
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <type_traits>
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

// Unaligned loads and stores of a vector of doubles (the idiom of the compilers' own intrinsics
// headers: a may_alias type of alignment 8).
typedef double vd_u __attribute__((vector_size(QDIFF_VEC_BYTES), aligned(8), may_alias));
inline vd ld(const double* p) { return *reinterpret_cast<const vd_u*>(p); }
inline void st(double* p, vd v) { *reinterpret_cast<vd_u*>(p) = v; }

// Lane permutation k -> k ^ S (__builtin_shufflevector in Clang, __builtin_shuffle in GCC, which
// has the former only since version 12).
template <int S, size_t... I>
inline vd xor_perm(vd a, std::index_sequence<I...>) {
#if defined(__clang__)
  return __builtin_shufflevector(a, a, (I ^ S)...);
#else
  typedef long long vi __attribute__((vector_size(QDIFF_VEC_BYTES)));
  return __builtin_shuffle(a, vi{(I ^ S)...});
#endif
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

// Lane constants: (-1, +1, -1, +1, ...), and per slot whether it holds the second member of a
// pair at distance 2**sb (0 or 1 in every lane), built once with vector operations (writing single
// lanes and reading the vector back stalls store forwarding).
inline vd lane_const(int kind) {
  vd c;
  for (int k = 0; k < kLanes; ++k) c[k] = kind < 0 ? ((k & 1) ? 1.0 : -1.0) : double(((k / 2) >> kind) & 1);
  return c;
}

// One gate's 2x2 matrix (row-major u) and its coefficient vectors: c00..c11 broadcast, for pairs
// whose members lie in different vectors; for a gate on a bit sb < kCplxBits (pairs inside one
// vector) in_own holds per slot the coefficient of the slot's own amplitude (u00 for the pair's
// first member, u11 for the second) and in_part that of the partner's, stored at the partner's
// slot (u10 at the first member's slot, u01 at the second's), so that
//   x' = in_own * x + partner_perm(in_part * x).
struct Mat {
  std::complex<double> u[4];
  CVec c00, c01, c10, c11;
  CVec in_own, in_part;
};

// The coefficients of u for a gate on bit `bit` (in_own, in_part only where bit < kCplxBits).
Mat load(const std::complex<double>* u, int64_t bit) {
  const vd sign = lane_const(-1), zero{};
  const auto bcast = [&](std::complex<double> z) { return CVec{zero + z.real(), sign * z.imag()}; };
  // a at the first members' slots, b at the second members' (second: 0 or 1 per lane; exact)
  const auto pick = [&](vd second, std::complex<double> a, std::complex<double> b) {
    const vd first = 1.0 - second;
    return CVec{first * a.real() + second * b.real(), sign * (first * a.imag() + second * b.imag())};
  };
  Mat m;
  for (int k = 0; k < 4; ++k) m.u[k] = u[k];
  m.c00 = bcast(u[0]), m.c01 = bcast(u[1]), m.c10 = bcast(u[2]), m.c11 = bcast(u[3]);
  if (bit < kCplxBits) {
    const vd second = lane_const(static_cast<int>(bit));
    m.in_own = pick(second, u[0], u[3]);
    m.in_part = pick(second, u[2], u[1]);
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

// ---- One gate on amplitudes held in registers ----

// (x, y) <- u (x, y): x, y hold kCplx pairs' first and second members.
inline void gate_pair(const Mat& u, vd& x, vd& y) {
  const vd sx = swap_ri(x), sy = swap_ri(y);
  const vd a = cmul2(u.c00, x, sx, u.c01, y, sy);
  y = cmul2(u.c10, x, sx, u.c11, y, sy);
  x = a;
}

// A gate of stride 2**SB < kCplx on the pairs inside the vector x.
template <int SB>
inline void gate_in(const Mat& u, vd& x) {
  const vd sx = swap_ri(x);
  x = cfma(u.in_own, x, sx, perm<(2 << SB)>(cmul(u.in_part, x, sx)));
}

// Reversible-adjoint step of one gate on pairs (p0, p1) of psi and (l0, l1) of lam: adds the
// transition sums (before the undo) to a, then undoes the gate (v = U^dagger) on both states.
inline void back_pair(const Mat& v, vd& p0, vd& p1, vd& l0, vd& l1, Acc& a) {
  const vd sp0 = swap_ri(p0), sp1 = swap_ri(p1), sl0 = swap_ri(l0), sl1 = swap_ri(l1);
  a.d0 += l0 * sp0;
  a.d1 += l1 * sp1;
  a.orr = QDIFF_KEEP(a.orr + l0 * p1) - l1 * p0;
  a.oii = QDIFF_KEEP(a.oii + l0 * sp1) + l1 * sp0;
  const vd q0 = cmul2(v.c00, p0, sp0, v.c01, p1, sp1);
  p1 = cmul2(v.c10, p0, sp0, v.c11, p1, sp1);
  p0 = q0;
  const vd m0 = cmul2(v.c00, l0, sl0, v.c01, l1, sl1);
  l1 = cmul2(v.c10, l0, sl0, v.c11, l1, sl1);
  l0 = m0;
}

template <int SB>
inline void back_in(const Mat& v, vd& p, vd& l, AccIn& a) {
  const vd sp = swap_ri(p), sl = swap_ri(l), pp = perm<(2 << SB)>(p);
  a.dd += l * sp;
  a.orr += l * pp;
  a.oii += sl * pp;
  p = cfma(v.in_own, p, sp, perm<(2 << SB)>(cmul(v.in_part, p, sp)));
  l = cfma(v.in_own, l, sl, perm<(2 << SB)>(cmul(v.in_part, l, sl)));
}

// f(std::integral_constant<int, b>) for a bit b < kCplxBits (pairs inside a vector).
template <class F>
inline void with_in_bit(int64_t b, F&& f) {
  if constexpr (kCplxBits >= 1)
    if (b == 0) return f(std::integral_constant<int, 0>());
  if constexpr (kCplxBits >= 2)
    if (b == 1) return f(std::integral_constant<int, 1>());
}

// ---- Loops over memory ----
// Each loop nest is its own (not inlined) function: compiled inside the large FFI handlers GCC
// spilled loop variables of the surrounding code in the hot loops.
#define QDIFF_NOINLINE __attribute__((noinline))
// A "quad" is the four amplitudes i, i + s1, i + s2, i + s1 + s2 of two gates with strides
// s1 < s2: both gates run on it while it sits in registers (half the loads and stores of running
// the gates one after the other).  Runs are len amplitudes long, a multiple of kCplx.

// One gate on the pair of vectors at a and a + o (offset in doubles).
inline void pair_at(double* a, int64_t o, const Mat& u) {
  vd x = ld(a), y = ld(a + o);
  gate_pair(u, x, y);
  st(a, x), st(a + o, y);
}

// The reversible-adjoint step of one gate on the pairs at q, q + o of psi and m, m + o of lam.
inline void back_pair_at(double* q, double* m, int64_t o, const Mat& v, Acc& a) {
  vd p0 = ld(q), p1 = ld(q + o), l0 = ld(m), l1 = ld(m + o);
  back_pair(v, p0, p1, l0, l1, a);
  st(q, p0), st(q + o, p1), st(m, l0), st(m + o, l1);
}

// Both gates on the quad at q (offsets o01 = 2 s1, o10 = 2 s2 in doubles): gate 1 on the pairs
// (00, 01) and (10, 11), gate 2 on (00, 10) and (01, 11).
inline void quad_at(double* q, int64_t o01, int64_t o10, const Mat& u1, const Mat& u2) {
  const int64_t o11 = o01 + o10;
  vd a = ld(q), b = ld(q + o01), c = ld(q + o10), d = ld(q + o11);
  gate_pair(u1, a, b), gate_pair(u1, c, d);
  gate_pair(u2, a, c), gate_pair(u2, b, d);
  st(q, a), st(q + o01, b), st(q + o10, c), st(q + o11, d);
}

// The reversible-adjoint step of both gates on the quads at q of psi and m of lam.
inline void back_quad_at(double* q, double* m, int64_t o01, int64_t o10, const Mat& v1, const Mat& v2,
                         Acc& a1, Acc& a2) {
  const int64_t o11 = o01 + o10;
  vd p00 = ld(q), p01 = ld(q + o01), p10 = ld(q + o10), p11 = ld(q + o11);
  vd l00 = ld(m), l01 = ld(m + o01), l10 = ld(m + o10), l11 = ld(m + o11);
  back_pair(v1, p00, p01, l00, l01, a1), back_pair(v1, p10, p11, l10, l11, a1);
  back_pair(v2, p00, p10, l00, l10, a2), back_pair(v2, p01, p11, l01, l11, a2);
  st(q, p00), st(q + o01, p01), st(q + o10, p10), st(q + o11, p11);
  st(m, l00), st(m + o01, l01), st(m + o10, l10), st(m + o11, l11);
}

// A run of len amplitudes at a paired with the run at a + o (offset in doubles).
QDIFF_NOINLINE void apply_run(double* a, int64_t o, int64_t len, const Mat& u) {
  for (int64_t i = 0; i < 2 * len; i += kLanes) pair_at(a + i, o, u);
}

// Offsets (in doubles) o01 = 2 s1, o10 = 2 s2 from the quad's first amplitude.
QDIFF_NOINLINE void apply_quad(double* x, int64_t o01, int64_t o10, int64_t len, const Mat& u1,
                               const Mat& u2) {
  for (int64_t i = 0; i < 2 * len; i += kLanes) quad_at(x + i, o01, o10, u1, u2);
}

QDIFF_NOINLINE void back_run(double* p, double* l, int64_t o, int64_t len, const Mat& v, Acc& acc) {
  Acc a = acc;
  for (int64_t i = 0; i < 2 * len; i += kLanes) back_pair_at(p + i, l + i, o, v, a);
  acc = a;
}

// Offsets (in doubles) o01 = 2 s1, o10 = 2 s2 from the quad's first amplitude in both states.
QDIFF_NOINLINE void back_quad(double* p, double* l, int64_t o01, int64_t o10, int64_t len, const Mat& v1,
                      const Mat& v2, Acc& acc1, Acc& acc2) {
  Acc a1 = acc1, a2 = acc2;
  for (int64_t i = 0; i < 2 * len; i += kLanes) back_quad_at(p + i, l + i, o01, o10, v1, v2, a1, a2);
  acc1 = a1, acc2 = a2;
}

// One gate (bit b) on a block of blk amplitudes (a multiple of 2**(b+1) and of kCplx).
// Inside a block the pairs or quads are visited in one flat loop over the amplitude indices i
// (multiples of kCplx) whose gate bits are zero (no per-run loop set-up when runs are short):
// the index after i whose bits in mask are zero.
inline int64_t next_free(int64_t i, int64_t mask) { return ((i | mask | (kCplx - 1)) + 1) & ~mask; }

QDIFF_NOINLINE void apply_block1(double* x, int64_t blk, int64_t b, const Mat& u) {
  const int64_t s = int64_t(1) << b;
  if (s >= kCplx) {
    for (int64_t i = 0; i < blk; i = next_free(i, s)) pair_at(x + 2 * i, 2 * s, u);
    return;
  }
  with_in_bit(b, [&](auto sb) {
    for (int64_t i = 0; i < 2 * blk; i += kLanes) {
      vd v = ld(x + i);
      gate_in<decltype(sb)::value>(u, v);
      st(x + i, v);
    }
  });
}

// Two gates, bits b1 < b2, on a block (a multiple of 2**(b2+1) and of kCplx).
QDIFF_NOINLINE void apply_block2(double* x, int64_t blk, int64_t b1, const Mat& u1, int64_t b2,
                                 const Mat& u2) {
  const int64_t s1 = int64_t(1) << b1, s2 = int64_t(1) << b2;
  if (s1 >= kCplx) {
    for (int64_t i = 0; i < blk; i = next_free(i, s1 | s2)) quad_at(x + 2 * i, 2 * s1, 2 * s2, u1, u2);
    return;
  }
  if (s2 >= kCplx) {
    with_in_bit(b1, [&](auto sb) {
      for (int64_t i = 0; i < blk; i = next_free(i, s2)) {
        double* q = x + 2 * i;
        vd a = ld(q), c = ld(q + 2 * s2);
        gate_in<decltype(sb)::value>(u1, a), gate_in<decltype(sb)::value>(u1, c);
        gate_pair(u2, a, c);
        st(q, a), st(q + 2 * s2, c);
      }
    });
    return;
  }
  if constexpr (kCplxBits >= 2)  // b1 = 0, b2 = 1
    for (int64_t i = 0; i < 2 * blk; i += kLanes) {
      vd v = ld(x + i);
      gate_in<0>(u1, v), gate_in<1>(u2, v);
      st(x + i, v);
    }
}

QDIFF_NOINLINE void back_block1(double* p, double* l, int64_t blk, int64_t b, const Mat& v, Acc& acc,
                                AccIn& accin) {
  const int64_t s = int64_t(1) << b;
  if (s >= kCplx) {
    Acc a = acc;
    for (int64_t i = 0; i < blk; i = next_free(i, s)) back_pair_at(p + 2 * i, l + 2 * i, 2 * s, v, a);
    acc = a;
    return;
  }
  with_in_bit(b, [&](auto sb) {
    AccIn a = accin;
    for (int64_t i = 0; i < 2 * blk; i += kLanes) {
      vd x = ld(p + i), y = ld(l + i);
      back_in<decltype(sb)::value>(v, x, y, a);
      st(p + i, x), st(l + i, y);
    }
    accin = a;
  });
}

QDIFF_NOINLINE void back_block2(double* p, double* l, int64_t blk, int64_t b1, const Mat& v1, Acc& acc1,
                                AccIn& accin1, int64_t b2, const Mat& v2, Acc& acc2, AccIn& accin2) {
  const int64_t s1 = int64_t(1) << b1, s2 = int64_t(1) << b2;
  if (s1 >= kCplx) {
    Acc a1 = acc1, a2 = acc2;
    for (int64_t i = 0; i < blk; i = next_free(i, s1 | s2))
      back_quad_at(p + 2 * i, l + 2 * i, 2 * s1, 2 * s2, v1, v2, a1, a2);
    acc1 = a1, acc2 = a2;
    return;
  }
  if (s2 >= kCplx) {
    with_in_bit(b1, [&](auto sb) {
      AccIn a1 = accin1;
      Acc a2 = acc2;
      for (int64_t i = 0; i < blk; i = next_free(i, s2)) {
        double* q = p + 2 * i;
        double* m = l + 2 * i;
        vd x0 = ld(q), x1 = ld(q + 2 * s2), y0 = ld(m), y1 = ld(m + 2 * s2);
        back_in<decltype(sb)::value>(v1, x0, y0, a1), back_in<decltype(sb)::value>(v1, x1, y1, a1);
        back_pair(v2, x0, x1, y0, y1, a2);
        st(q, x0), st(q + 2 * s2, x1), st(m, y0), st(m + 2 * s2, y1);
      }
      accin1 = a1, acc2 = a2;
    });
    return;
  }
  if constexpr (kCplxBits >= 2) {  // b1 = 0, b2 = 1
    AccIn a1 = accin1, a2 = accin2;
    for (int64_t i = 0; i < 2 * blk; i += kLanes) {
      vd x = ld(p + i), y = ld(l + i);
      back_in<0>(v1, x, y, a1), back_in<1>(v2, x, y, a2);
      st(p + i, x), st(l + i, y);
    }
    accin1 = a1, accin2 = a2;
  }
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
// The tile of a layer_back pass has 2**max(block_bits + 1, kTileBits - 1) amplitudes of each of psi
// and lam, that of a layer_apply pass 2**max(block_bits + 2, kTileBits) of the one state (at least
// 512 KiB, so that rows stay 2 KiB long with 8 gates per tile).  Blocks and rows hold at least one
// vector (block_bits >= kCplxBits, cb >= kCplxBits).  Within a block or a tile the gates run two
// at a time (bits ascending: the first two, the next two, ...; see "quad").
constexpr int64_t kTileBits = 15;
// At most 64 gate indices (a layer's bits are distinct and below 63); no allocation per call.
struct Gates {
  int64_t g[64];
  size_t n = 0;
  void push_back(int64_t x) { g[n++] = x; }
  size_t size() const { return n; }
  int64_t operator[](size_t i) const { return g[i]; }
};

struct Plan {
  int64_t block_bits, tile_gates;
  Gates low;   // gate indices, bits ascending
  Gates high;  // gate indices, bits ascending; groups of tile_gates consecutive entries
};

Plan plan(ffi::Span<const int64_t> bits, int64_t block_bits, int64_t tile_gates) {
  Plan p;
  p.block_bits = std::max(block_bits, kCplxBits);
  p.tile_gates = tile_gates;
  for (int64_t g = 0; g < static_cast<int64_t>(bits.size()); ++g)
    (bits[g] < p.block_bits ? p.low : p.high).push_back(g);
  const auto by_bit = [&](int64_t a, int64_t b) { return bits[a] < bits[b]; };
  std::sort(p.low.g, p.low.g + p.low.n, by_bit);
  std::sort(p.high.g, p.high.g + p.high.n, by_bit);
  return p;
}

// For the gates of `group` (bits ascending), tile by tile (a tile has about 2**tile_bits
// amplitudes of a state of 2**nbits): two(g1, g2, o00, o01, o10, o11, len) for every quad run of
// the gate pairs (group[0], group[1]), (group[2], group[3]), ..., and one(g, o0, o1, len) for
// every pair run of a last unpaired gate (amplitude offsets; runs of len amplitudes).
template <class One, class Two>
void tile_pass(int64_t nbits, ffi::Span<const int64_t> bits, const int64_t* group, int64_t k,
               int64_t tile_bits, One&& one, Two&& two) {
  const int64_t cb = std::min(bits[group[0]], std::max<int64_t>(kCplxBits, tile_bits - k));
  std::vector<int64_t> free;
  for (int64_t b = cb; b < nbits; ++b) {
    bool used = false;
    for (int64_t r = 0; r < k; ++r) used |= bits[group[r]] == b;
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
    int64_t r = 0;
    for (; r + 1 < k; r += 2) {
      const int64_t m1 = int64_t(1) << r, m2 = int64_t(1) << (r + 1);
      for (int64_t t = 0; t < rows; ++t)
        if (!(t & (m1 | m2)))
          two(group[r], group[r + 1], off[t], off[t | m1], off[t | m2], off[t | m1 | m2], len);
    }
    if (r < k)
      for (int64_t t = 0; t < rows; ++t)
        if (!((t >> r) & 1)) one(group[r], off[t], off[t | (int64_t(1) << r)], len);
  }
}

// Within a block, the leading gate pairs whose bits are all below sub_bits run sub-block by
// sub-block (2**sub_bits amplitudes: 32 KiB of state data, which stays in the L1 cache), the
// others on the whole block.  The number of such leading gates (even).
size_t sub_block_gates(ffi::Span<const int64_t> bits, const Gates& low, int64_t sub_bits) {
  size_t i = 0;
  while (i + 1 < low.size() && bits[low[i + 1]] < sub_bits) i += 2;
  return i;
}
constexpr int64_t kSubBitsApply = 11, kSubBitsBack = 10;

// The plan's low gates, block by block: two(g1, g2, offset, len) for each gate pair (bits
// ascending; the leading pairs whose bits are below sub_bits sub-block by sub-block), one(g, offset,
// len) for a last unpaired gate; offsets and lengths in amplitudes.
template <class One, class Two>
void block_pass(int64_t nstate, ffi::Span<const int64_t> bits, const Plan& p, int64_t sub_bits, One&& one,
                Two&& two) {
  const size_t nlow = p.low.size(), nsub = sub_block_gates(bits, p.low, sub_bits);
  if (!nlow) return;
  const int64_t blk = std::min<int64_t>(nstate, int64_t(1) << p.block_bits);
  const int64_t sub = std::min<int64_t>(blk, int64_t(1) << std::max(sub_bits, kCplxBits));
  for (int64_t base = 0; base < nstate; base += blk) {
    for (int64_t o = 0; o < blk; o += sub)
      for (size_t i = 0; i < nsub; i += 2) two(p.low[i], p.low[i + 1], base + o, sub);
    size_t i = nsub;
    for (; i + 1 < nlow; i += 2) two(p.low[i], p.low[i + 1], base, blk);
    if (i < nlow) one(p.low[i], base, blk);
  }
}

// The plan's high gates, tile_gates at a time, each group in one tile_pass.
template <class One, class Two>
void high_pass(int64_t nbits, ffi::Span<const int64_t> bits, const Plan& p, int64_t tile_bits, One&& one,
               Two&& two) {
  for (size_t i = 0; i < p.high.size(); i += p.tile_gates)
    tile_pass(nbits, bits, p.high.g + i, std::min<int64_t>(p.tile_gates, p.high.size() - i), tile_bits, one,
              two);
}

void layer_apply(double* s, int64_t nbits, ffi::Span<const int64_t> bits, const Plan& p,
                 const std::vector<Mat>& mats) {
  const int64_t nstate = int64_t(1) << nbits;
  if (nstate < kCplx) {
    for (size_t g = 0; g < bits.size(); ++g) apply_tiny(s, nstate, bits[g], mats[g]);
    return;
  }
  block_pass(
      nstate, bits, p, kSubBitsApply,
      [&](int64_t g, int64_t off, int64_t len) { apply_block1(s + 2 * off, len, bits[g], mats[g]); },
      [&](int64_t g1, int64_t g2, int64_t off, int64_t len) {
        apply_block2(s + 2 * off, len, bits[g1], mats[g1], bits[g2], mats[g2]);
      });
  high_pass(
      nbits, bits, p, std::max<int64_t>(p.block_bits + 2, kTileBits),
      [&](int64_t g, int64_t o0, int64_t o1, int64_t len) { apply_run(s + 2 * o0, 2 * (o1 - o0), len, mats[g]); },
      [&](int64_t g1, int64_t g2, int64_t o00, int64_t o01, int64_t o10, int64_t, int64_t len) {
        apply_quad(s + 2 * o00, 2 * (o01 - o00), 2 * (o10 - o00), len, mats[g1], mats[g2]);
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
  // Lane-wise transition sums per gate (on the stack for up to kStackGates gates).
  constexpr size_t kStackGates = 32;
  Acc acc_stack[kStackGates];
  AccIn accin_stack[kStackGates];
  std::vector<Acc> acc_heap(m > kStackGates ? m : 0);
  std::vector<AccIn> accin_heap(m > kStackGates ? m : 0);
  Acc* accs = m > kStackGates ? acc_heap.data() : acc_stack;
  AccIn* accin = m > kStackGates ? accin_heap.data() : accin_stack;
  for (size_t g = 0; g < m; ++g) accs[g] = Acc{vd{}, vd{}, vd{}, vd{}}, accin[g] = AccIn{vd{}, vd{}, vd{}};
  block_pass(
      nstate, bits, pl, kSubBitsBack,
      [&](int64_t g, int64_t off, int64_t len) {
        back_block1(p + 2 * off, l + 2 * off, len, bits[g], mats[g], accs[g], accin[g]);
      },
      [&](int64_t g1, int64_t g2, int64_t off, int64_t len) {
        back_block2(p + 2 * off, l + 2 * off, len, bits[g1], mats[g1], accs[g1], accin[g1], bits[g2], mats[g2],
                    accs[g2], accin[g2]);
      });
  high_pass(
      nbits, bits, pl, std::max<int64_t>(pl.block_bits + 1, kTileBits - 1),
      [&](int64_t g, int64_t o0, int64_t o1, int64_t len) {
        back_run(p + 2 * o0, l + 2 * o0, 2 * (o1 - o0), len, mats[g], accs[g]);
      },
      [&](int64_t g1, int64_t g2, int64_t o00, int64_t o01, int64_t o10, int64_t, int64_t len) {
        back_quad(p + 2 * o00, l + 2 * o00, 2 * (o01 - o00), 2 * (o10 - o00), len, mats[g1], mats[g2],
                  accs[g1], accs[g2]);
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

// Row r's matrices (rows / sets consecutive rows share a set), loaded where a new set starts.
void load_row_set(std::vector<Mat>& mats, const std::complex<double>* data, int64_t r, int64_t rows,
                  int64_t sets, ffi::Span<const int64_t> bits) {
  if (r % (rows / sets) != 0) return;
  const int64_t m = bits.size();
  for (int64_t g = 0; g < m; ++g) mats[g] = load(data + 4 * (r / (rows / sets) * m + g), bits[g]);
}

// What both rotor handlers share: the state's shape, the checked gates, the loop plan, and each
// row's matrices (set_row loads the matrix set a row uses).
struct Layer {
  int64_t nstate = 0, rows = 0, sets = 1, nbits = 0;
  Plan plan;
  std::vector<Mat> mats;
  const std::complex<double>* data = nullptr;
  ffi::Span<const int64_t> bits;
  void set_row(int64_t r) { load_row_set(mats, data, r, rows, sets, bits); }
};

ffi::Error make_layer(const ffi::Buffer<ffi::C128>& psi, const ffi::Buffer<ffi::C128>& us,
                      ffi::Span<const int64_t> bits, int64_t block_bits, int64_t tile_gates, Layer& L) {
  L.nstate = psi.dimensions().back();
  L.rows = L.nstate ? psi.element_count() / L.nstate : 0;
  if (auto e = check_gates(L.nstate, L.rows, bits, us.element_count(), block_bits, tile_gates, &L.sets);
      e.failure())
    return e;
  L.nbits = log2_exact(L.nstate);
  L.plan = plan(bits, block_bits, tile_gates);
  L.mats.resize(bits.size());
  L.data = us.typed_data();
  L.bits = bits;
  return ffi::Error::Success();
}

// Row r of src into dst, unless XLA aliased the two.
double* row_copy(std::complex<double>* dst, const std::complex<double>* src, int64_t r, int64_t nstate) {
  if (dst + r * nstate != src + r * nstate)
    std::memcpy(dst + r * nstate, src + r * nstate, sizeof(std::complex<double>) * nstate);
  return reinterpret_cast<double*>(dst + r * nstate);
}

ffi::Error RotorApply(ffi::Buffer<ffi::C128> psi, ffi::Buffer<ffi::C128> us,
                      ffi::Span<const int64_t> bits, int64_t block_bits, int64_t tile_gates,
                      ffi::ResultBuffer<ffi::C128> out) {
  Layer L;
  if (auto e = make_layer(psi, us, bits, block_bits, tile_gates, L); e.failure()) return e;
  for (int64_t r = 0; r < L.rows; ++r) {
    L.set_row(r);
    layer_apply(row_copy(out->typed_data(), psi.typed_data(), r, L.nstate), L.nbits, bits, L.plan, L.mats);
  }
  return ffi::Error::Success();
}

ffi::Error RotorBack(ffi::Buffer<ffi::C128> psi, ffi::Buffer<ffi::C128> lam,
                     ffi::Buffer<ffi::C128> vs, ffi::Span<const int64_t> bits,
                     int64_t block_bits, int64_t tile_gates, ffi::ResultBuffer<ffi::C128> psi_out,
                     ffi::ResultBuffer<ffi::C128> lam_out, ffi::ResultBuffer<ffi::F64> trans) {
  Layer L;
  if (auto e = make_layer(psi, vs, bits, block_bits, tile_gates, L); e.failure()) return e;
  if (lam.element_count() != psi.element_count())
    return ffi::Error::InvalidArgument("rotor kernel: psi and lam differ in size");
  const int64_t m = bits.size();
  if (trans->element_count() != L.rows * m * 4)
    return ffi::Error::InvalidArgument("rotor kernel: transition output has the wrong size");
  for (int64_t r = 0; r < L.rows; ++r) {
    L.set_row(r);
    double* acc = trans->typed_data() + r * m * 4;
    std::fill(acc, acc + 4 * m, 0.0);
    layer_back(row_copy(psi_out->typed_data(), psi.typed_data(), r, L.nstate),
               row_copy(lam_out->typed_data(), lam.typed_data(), r, L.nstate), L.nbits, bits, L.plan, L.mats,
               acc);
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
