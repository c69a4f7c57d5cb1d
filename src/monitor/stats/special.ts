/**
 * Special functions the drift statistics need: log-gamma, erfc, the normal distribution, the
 * regularized incomplete gamma functions and the chi-square survival function. Every function keeps
 * its relative accuracy in the far tail (a p-value of 1e-200 comes out to ~1e-13 relative), because
 * drift p-values are compared, adjusted (Benjamini–Hochberg) and reported, not only thresholded.
 */

const LOG_SQRT_2PI = 0.9189385332046727417803297364056176398614;
const SQRT1_2 = Math.SQRT1_2;

/**
 * The Stirling-series remainder: `logGamma(x) - ((x - 0.5)·ln x - x + ½·ln 2π)`, for x ≥ 10.
 * Truncation error < 1e-17 at x = 10 and smaller above.
 */
export function stirlingCorrection(x: number): number {
  const r = 1 / x;
  const r2 = r * r;
  return r * (1 / 12 + r2 * (-1 / 360 + r2 * (1 / 1260 + r2 * (-1 / 1680 + r2 * (1 / 1188 + r2 * (-691 / 360360 + r2 * (1 / 156)))))));
}

/**
 * ln Γ(x) for x > 0 (NaN below, +∞ at 0). Stirling's series from x ≥ 10, the recurrence
 * Γ(x) = Γ(x + k) / (x(x+1)…(x+k−1)) below; about 1e-15 relative away from the zeros at 1 and 2.
 */
export function logGamma(x: number): number {
  if (Number.isNaN(x) || x < 0) return NaN;
  if (x === 0) return Infinity;
  if (x === Infinity) return Infinity;
  if (x === 1 || x === 2) return 0;
  if (x >= 10) return (x - 0.5) * Math.log(x) - x + LOG_SQRT_2PI + stirlingCorrection(x);
  let prod = 1;
  let y = x;
  while (y < 10) {
    prod *= y;
    y += 1;
  }
  return (y - 0.5) * Math.log(y) - y + LOG_SQRT_2PI + stirlingCorrection(y) - Math.log(prod);
}

// W. J. Cody, "Rational Chebyshev approximations for the error function", Math. Comp. 23 (1969),
// the coefficient sets of the public-domain SPECFUN routine CALERF.
const ERF_A = [3.1611237438705656, 113.864154151050156, 377.485237685302021, 3209.37758913846947, 0.185777706184603153];
const ERF_B = [23.6012909523441209, 244.024637934444173, 1282.61652607737228, 2844.23683343917062];
const ERF_C = [
  0.564188496988670089, 8.88314979438837594, 66.1191906371416295, 298.635138197400131, 881.95222124176909,
  1712.04761263407058, 2051.07837782607147, 1230.33935479799725, 2.15311535474403846e-8,
];
const ERF_D = [
  15.7449261107098347, 117.693950891312499, 537.181101862009858, 1621.38957456669019, 3290.79923573345963,
  4362.61909014324716, 3439.36767414372164, 1230.33935480374942,
];
const ERF_P = [0.305326634961232344, 0.360344899949804439, 0.125781726111229246, 0.0160837851487422766, 6.58749161529837803e-4, 0.0163153871373020978];
const ERF_Q = [2.56852019228982242, 1.87295284992346047, 0.527905102951428412, 0.0605183413124413191, 0.00233520497626869185];
const ONE_OVER_SQRT_PI = 0.56418958354775628695;

/** erfc(|x|)·e^{x²} pieces evaluated with exp split as in CALERF so the tail keeps full precision. */
function erfcPositive(y: number): number {
  // y > 0.46875
  let r: number;
  if (y <= 4) {
    let num = ERF_C[8]! * y;
    let den = y;
    for (let i = 0; i < 7; i++) {
      num = (num + ERF_C[i]!) * y;
      den = (den + ERF_D[i]!) * y;
    }
    r = (num + ERF_C[7]!) / (den + ERF_D[7]!);
  } else {
    if (y >= 26.65) return 0;
    const z = 1 / (y * y);
    let num = ERF_P[5]! * z;
    let den = z;
    for (let i = 0; i < 4; i++) {
      num = (num + ERF_P[i]!) * z;
      den = (den + ERF_Q[i]!) * z;
    }
    r = (z * (num + ERF_P[4]!)) / (den + ERF_Q[4]!);
    r = (ONE_OVER_SQRT_PI - r) / y;
  }
  // e^{-y²} = e^{-s²}·e^{-(y-s)(y+s)} with s = y rounded down to 1/16: s² is exact
  const s = Math.trunc(y * 16) / 16;
  const del = (y - s) * (y + s);
  return Math.exp(-s * s) * Math.exp(-del) * r;
}

/** The complementary error function, accurate to ~1e-15 relative over its whole range (0 beyond x ≈ 26.6). */
export function erfc(x: number): number {
  if (Number.isNaN(x)) return NaN;
  const y = Math.abs(x);
  if (y <= 0.46875) return 1 - erf(x);
  const r = erfcPositive(y);
  return x < 0 ? 2 - r : r;
}

/** The error function. */
export function erf(x: number): number {
  if (Number.isNaN(x)) return NaN;
  const y = Math.abs(x);
  if (y <= 0.46875) {
    const z = y > 1.11e-16 ? y * y : 0;
    let num = ERF_A[4]! * z;
    let den = z;
    for (let i = 0; i < 3; i++) {
      num = (num + ERF_A[i]!) * z;
      den = (den + ERF_B[i]!) * z;
    }
    return (x * (num + ERF_A[3]!)) / (den + ERF_B[3]!);
  }
  const r = 1 - erfcPositive(y);
  return x < 0 ? -r : r;
}

/** Φ(z), the standard normal CDF; accurate in the lower tail (Φ(−30) ≈ 4.9e-198 to ~1e-14 relative). */
export function normalCdf(z: number): number {
  return 0.5 * erfc(-z * SQRT1_2);
}

/** 1 − Φ(z), the standard normal survival function, computed directly (no cancellation in the upper tail). */
export function normalSf(z: number): number {
  return 0.5 * erfc(z * SQRT1_2);
}

/** log(1 + u) − u, accurate also for small |u| (series), for u > −1. */
function log1pmx(u: number): number {
  if (Math.abs(u) > 0.5) return Math.log1p(u) - u;
  // −u²/2 + u³/3 − u⁴/4 + …
  let term = u;
  let sum = 0;
  for (let k = 2; k < 200; k++) {
    term *= -u;
    const t = term / k;
    sum += t;
    if (Math.abs(t) <= 1e-17 * Math.abs(sum)) break;
  }
  return sum;
}

/** x^a e^{−x} / Γ(a), the common factor of P(a, x) and Q(a, x), kept accurate for large a. */
function gammaPrefactor(a: number, x: number): number {
  if (a < 10) return Math.exp(a * Math.log(x) - x - logGamma(a));
  // x^a e^{-x}/Γ(a) = exp(a·(ln t − t + 1))·√(a/2π)·e^{−stirling(a)} with t = x/a: no large cancelling terms
  const u = (x - a) / a;
  return Math.exp(a * log1pmx(u) - stirlingCorrection(a)) * Math.sqrt(a / (2 * Math.PI));
}

const GAMMA_EPS = 1e-16;
const GAMMA_MAX_ITER = 100_000_000;

/** Σ series for P(a, x) (use when x < a + 1). Returns P. */
function gammaPSeries(a: number, x: number): number {
  let term = 1 / a;
  let sum = term;
  let ap = a;
  for (let i = 0; i < GAMMA_MAX_ITER; i++) {
    ap += 1;
    term *= x / ap;
    sum += term;
    if (term < sum * GAMMA_EPS) break;
  }
  return sum * gammaPrefactor(a, x);
}

/** Continued fraction for Q(a, x) (use when x ≥ a + 1), modified Lentz. Returns Q. */
function gammaQContinuedFraction(a: number, x: number): number {
  const tiny = 1e-300;
  let b = x + 1 - a;
  let c = 1 / tiny;
  let d = 1 / b;
  let h = d;
  for (let i = 1; i < GAMMA_MAX_ITER; i++) {
    const an = -i * (i - a);
    b += 2;
    d = an * d + b;
    if (Math.abs(d) < tiny) d = tiny;
    c = b + an / c;
    if (Math.abs(c) < tiny) c = tiny;
    d = 1 / d;
    const del = d * c;
    h *= del;
    if (Math.abs(del - 1) < GAMMA_EPS) break;
  }
  return h * gammaPrefactor(a, x);
}

/** The regularized lower incomplete gamma function P(a, x) = γ(a, x)/Γ(a), a > 0, x ≥ 0. */
export function regularizedGammaP(a: number, x: number): number {
  if (!(a > 0) || !(x >= 0)) return NaN;
  if (x === 0) return 0;
  if (x === Infinity) return 1;
  if (x < a + 1) return Math.min(1, gammaPSeries(a, x));
  return Math.max(0, 1 - gammaQContinuedFraction(a, x));
}

/**
 * The regularized upper incomplete gamma function Q(a, x) = Γ(a, x)/Γ(a) = 1 − P(a, x), a > 0, x ≥ 0,
 * computed directly in the upper tail so tiny values keep their relative accuracy.
 */
export function regularizedGammaQ(a: number, x: number): number {
  if (!(a > 0) || !(x >= 0)) return NaN;
  if (x === 0) return 1;
  if (x === Infinity) return 0;
  if (x < a + 1) return Math.max(0, 1 - gammaPSeries(a, x));
  return Math.min(1, gammaQContinuedFraction(a, x));
}

/** P(χ²_dof > x): the chi-square survival function (scipy `chi2.sf`). 1 for x ≤ 0, NaN for dof ≤ 0. */
export function chiSquareSf(x: number, dof: number): number {
  if (Number.isNaN(x) || !(dof > 0)) return NaN;
  if (x <= 0) return 1;
  return regularizedGammaQ(dof / 2, x / 2);
}
