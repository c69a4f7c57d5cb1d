/**
 * Distributions of Kolmogorov–Smirnov statistics:
 *
 * - `kolmogorovSf(x)`: Kolmogorov's limiting distribution, P(√n·D_n > x) as n → ∞
 *   (scipy `scipy.special.kolmogorov`);
 * - `kolmogorovNSf(n, d)`: the exact finite-n two-sided one-sample distribution P(D_n > d)
 *   (scipy `scipy.stats.kstwo.sf(d, n)`), which scipy's two-sample test uses for its asymptotic
 *   p-value with n = round(n₁n₂/(n₁+n₂)).
 *
 * `kolmogorovNSf` follows the algorithm selection of Simard & L'Ecuyer (2011) exactly as scipy 1.10's
 * `_ksstats._kolmogn` does (Ruben–Gambino closed forms, the Durbin matrix of Marsaglia–Tsang–Wang,
 * Pomeranz's recursion, the Pelz–Good expansion, and 2× the one-sided Smirnov tail), so that its
 * values agree with scipy to ~1e-12 relative. The one-sided tail is the Birnbaum–Tingey sum, evaluated
 * in log space with a running scale so that p-values down to 1e-300 keep their relative accuracy.
 */

const PI_SQUARED = Math.PI * Math.PI;
const PI_FOUR = PI_SQUARED * PI_SQUARED;
const PI_SIX = PI_FOUR * PI_SQUARED;
const SQRT_2PI = Math.sqrt(2 * Math.PI);
const LOG_2PI = Math.log(2 * Math.PI);
const SQRT3 = Math.sqrt(3);
const MIN_LOG = -708;
const EP128 = 2 ** 128;
const EM128 = 2 ** -128;
const DBL_EPSILON = Number.EPSILON;
/** cephes MINLOG = ln(2^-1075), below which exp() underflows even to a subnormal */
const CEPHES_MINLOG = -7.451332191019412076235e2;
const KOLMOG_CUTOVER = 0.82;
/** exp() of anything below this is 0 (scipy's MIN_EXPABLE) */
const MIN_EXPABLE = -708 - 38;
const SMIRNOV_MAX_COMPUTE_N = 1_000_000;

function clip01(p: number): number {
  return p < 0 ? 0 : p > 1 ? 1 : p;
}

/**
 * Kolmogorov's limiting survival function K̄(x) = 2 Σ_{k≥1} (−1)^{k−1} e^{−2k²x²}
 * (scipy `special.kolmogorov`). Use for √n·D with large n when an n-free approximation is wanted.
 */
export function kolmogorovSf(x: number): number {
  if (Number.isNaN(x)) return NaN;
  if (x <= 0) return 1;
  if (x <= Math.PI / Math.sqrt(-MIN_EXPABLE * 8)) return 1; // x ≤ 0.0406: the cdf underflows
  if (x <= KOLMOG_CUTOVER) {
    // cdf = √(2π)/x · Σ_{k≥1} e^{−(2k−1)²π²/(8x²)}
    const w = SQRT_2PI / x;
    const logu8 = -PI_SQUARED / (x * x);
    const u = Math.exp(logu8 / 8);
    let cdf: number;
    if (u === 0) {
      cdf = Math.exp(logu8 / 8 + Math.log(w));
    } else {
      const u8 = Math.exp(logu8);
      const u8cub = u8 ** 3;
      let p = 1;
      p = 1 + u8cub * p;
      p = 1 + u8 * u8 * p;
      p = 1 + u8 * p;
      cdf = w * u * p;
    }
    return clip01(1 - cdf);
  }
  const v = Math.exp(-2 * x * x);
  const vsq = v * v;
  const v3 = v ** 3;
  let p = 1;
  p = 1 - v3 * v3 * v * p;
  p = 1 - v3 * vsq * p;
  p = 1 - v3 * p;
  return clip01(2 * v * p);
}

/** Dekker's exact product: returns [p, e] with p + e = a·b exactly. */
function twoProduct(a: number, b: number): [number, number] {
  const p = a * b;
  const split = 134217729; // 2^27 + 1
  let t = split * a;
  const ah = t - (t - a);
  const al = a - ah;
  t = split * b;
  const bh = t - (t - b);
  const bl = b - bh;
  const e = ah * bh - p + ah * bl + al * bh + al * bl;
  return [p, e];
}

/**
 * P(D⁺_n ≥ x), the one-sided Smirnov tail (scipy `special.smirnov`), by the Birnbaum–Tingey sum
 * x·Σ_{v=0}^{⌊n(1−x)⌋} C(n,v) (x + v/n)^{v−1} (1 − x − v/n)^{n−v}. All terms are positive, so the
 * sum in log space with a running scale is accurate to ~1e-12 relative even for tiny tails.
 */
export function smirnovSf(n: number, x: number): number {
  if (!(n > 0 && x >= 0 && x <= 1) || !Number.isInteger(n)) return NaN;
  if (n === 1) return 1 - x;
  if (x === 0) return 1;
  if (x === 1) return 0;
  // n·x and its fractional part, exactly
  const [nxHi, nxLo] = twoProduct(n, x);
  let nxfl = Math.floor(nxHi);
  let alpha = nxHi - nxfl + nxLo;
  if (alpha < 0) {
    nxfl -= 1;
    alpha += 1;
  }
  if (alpha >= 1) {
    nxfl += 1;
    alpha -= 1;
  }
  if (nxfl === 0 || (nxfl === 1 && alpha === 0)) {
    // x ≤ 1/n: cdf = x (1 + x)^{n−1}
    return clip01(1 - x * Math.exp((n - 1) * Math.log1p(x)));
  }
  if (-2 * n * x * x < CEPHES_MINLOG) return 0;
  if (nxfl >= n - 1) return clip01(Math.exp(n * Math.log1p(-x)));
  if (n > SMIRNOV_MAX_COMPUTE_N) {
    const logp = -((6 * n * x + 1) ** 2) / 18 / n;
    return clip01(logp < -Math.LN2 ? Math.exp(logp) : 1 + Math.expm1(logp));
  }
  let n1mxfl = n - nxfl - (alpha === 0 ? 0 : 1);
  if (alpha === 0) n1mxfl -= 1;
  const nTerms = n1mxfl + 1;
  const vmid = Math.floor(n / 2);
  // log C(n, v) as an unevaluated sum logC + logCLo: with ~n/2 increments a plain running sum of
  // magnitude ~n·ln 2 would lose ~1e-8 relative at n = 10^6
  let logC = 0;
  let logCLo = 0;
  let shift = -Infinity; // running scale: sum = Σ exp(logTerm − shift)
  let sum = 0;
  for (let v = 0; v < nTerms; v++) {
    // x + v/n = (nxfl + v + alpha)/n and 1 − x − v/n = (n − nxfl − v − alpha)/n, both without cancellation
    const a = nxfl + v + alpha;
    const logA = Math.log(a / n); // not log(a) − log(n): an error in log(n), times v − 1, would be systematic
    const logB = Math.log1p(-a / n);
    const logTerm = logC + (v - 1) * logA + (n - v) * logB + logCLo;
    if (logTerm > shift) {
      sum = sum * Math.exp(shift - logTerm) + 1;
      shift = logTerm;
    } else {
      const t = Math.exp(logTerm - shift);
      sum += t;
      if (t !== 0) {
        if (4 * (nTerms - v) * t < DBL_EPSILON * sum && v !== nTerms - 1) break;
      } else if (v > vmid) {
        break;
      }
    }
    const inc = Math.log((n - v) / (v + 1));
    const s = logC + inc;
    const bb = s - logC;
    logCLo += logC - (s - bb) + (inc - bb);
    logC = s;
  }
  return clip01(Math.exp(Math.log(x) + Math.log(sum) + shift));
}

/** Durbin's matrix method (Marsaglia, Tsang & Wang 2003): P(D_n ≤ d). */
function kolmognDurbinMatrix(n: number, d: number): number {
  if (d >= 1) return 1;
  const nd = n * d;
  if (nd <= 0.5) return 0;
  const k = Math.ceil(nd);
  const h = k - nd;
  const m = 2 * k - 1;
  const v = new Float64Array(m);
  const w = new Float64Array(m);
  let fac = 1;
  for (let j = 1; j <= m; j++) {
    w[j - 1] = fac;
    fac /= j;
    v[j - 1] = (1 - h ** j) * fac;
  }
  const tt = Math.max(2 * h - 1, 0) ** m - 2 * h ** m;
  v[m - 1] = (1 + tt) * fac;
  let H = new Float64Array(m * m);
  for (let i = 1; i < m; i++) {
    for (let r = i - 1; r < m; r++) H[r * m + i] = w[r - (i - 1)]!;
  }
  for (let r = 0; r < m; r++) H[r * m] = v[r]!;
  for (let c = 0; c < m; c++) H[(m - 1) * m + c] = v[m - 1 - c]!;

  let Hpwr = new Float64Array(m * m);
  for (let i = 0; i < m; i++) Hpwr[i * m + i] = 1;
  let tmp = new Float64Array(m * m);
  const matmul = (A: Float64Array, B: Float64Array, out: Float64Array): void => {
    out.fill(0);
    for (let i = 0; i < m; i++) {
      for (let l = 0; l < m; l++) {
        const a = A[i * m + l]!;
        if (a === 0) continue;
        const rowB = l * m;
        const rowO = i * m;
        for (let j = 0; j < m; j++) out[rowO + j]! += a * B[rowB + j]!;
      }
    }
  };
  let nn = n;
  let expnt = 0;
  let Hexpnt = 0;
  while (nn > 0) {
    if (nn % 2) {
      matmul(Hpwr, H, tmp);
      [Hpwr, tmp] = [tmp, Hpwr];
      expnt += Hexpnt;
    }
    matmul(H, H, tmp);
    [H, tmp] = [tmp, H];
    Hexpnt *= 2;
    if (Math.abs(H[(k - 1) * m + (k - 1)]!) > EP128) {
      for (let i = 0; i < H.length; i++) H[i]! /= EP128;
      Hexpnt += 128;
    }
    nn = Math.floor(nn / 2);
  }
  let p = Hpwr[(k - 1) * m + (k - 1)]!;
  for (let i = 1; i <= n; i++) {
    p = (i * p) / n;
    if (Math.abs(p) < EM128) {
      p *= EP128;
      expnt -= 128;
    }
  }
  if (expnt !== 0) p = p * 2 ** expnt;
  return clip01(p);
}

function pomeranzJ1J2(i: number, n: number, ll: number, ceilf: number, roundf: number): [number, number] {
  let j1: number;
  let j2: number;
  if (i === 0) {
    j1 = -ll - ceilf - 1;
    j2 = ll + ceilf - 1;
  } else {
    const ip1div2 = Math.floor((i + 1) / 2);
    const ip1mod2 = (i + 1) % 2;
    if (ip1mod2 === 0) {
      if (ip1div2 === n + 1) {
        j1 = n - ll - ceilf - 1;
        j2 = n + ll + ceilf - 1;
      } else {
        j1 = ip1div2 - 1 - ll - roundf - 1;
        j2 = ip1div2 + ll - 1 + ceilf - 1;
      }
    } else {
      j1 = ip1div2 - 1 - ll - 1;
      j2 = ip1div2 + ll + roundf - 1;
    }
  }
  return [Math.max(j1 + 2, 0), Math.min(j2, n)];
}

/** Pomeranz's recursion (1974): P(D_n ≤ x). */
function kolmognPomeranz(n: number, x: number): number {
  const t = n * x;
  const ll = Math.floor(t);
  const f = t - ll;
  const g = Math.min(f, 1 - f);
  const ceilf = f > 0 ? 1 : 0;
  const roundf = f > 0.5 ? 1 : 0;
  const npwrs = 2 * (ll + 1);
  const gpower = new Float64Array(npwrs);
  const twogpower = new Float64Array(npwrs);
  const onem2gpower = new Float64Array(npwrs);
  gpower[0] = 1;
  twogpower[0] = 1;
  onem2gpower[0] = 1;
  let expnt = 0;
  const gOverN = g / n;
  const twoGOverN = (2 * g) / n;
  const oneMinusTwoGOverN = (1 - 2 * g) / n;
  for (let m = 1; m < npwrs; m++) {
    gpower[m] = (gpower[m - 1]! * gOverN) / m;
    twogpower[m] = (twogpower[m - 1]! * twoGOverN) / m;
    onem2gpower[m] = (onem2gpower[m - 1]! * oneMinusTwoGOverN) / m;
  }
  let V0 = new Float64Array(npwrs);
  let V1 = new Float64Array(npwrs);
  V1[0] = 1;
  let V0s = 0;
  let V1s = 0;
  let [j1, j2] = pomeranzJ1J2(0, n, ll, ceilf, roundf);
  for (let i = 1; i < 2 * n + 2; i++) {
    const k1 = j1;
    [V0, V1] = [V1, V0];
    [V0s, V1s] = [V1s, V0s];
    V1.fill(0);
    [j1, j2] = pomeranzJ1J2(i, n, ll, ceilf, roundf);
    const pwrs = i === 1 || i === 2 * n + 1 ? gpower : i % 2 ? twogpower : onem2gpower;
    const ln2 = j2 - k1 + 1;
    if (ln2 > 0) {
      // full convolution of V0[k1−V0s : k1−V0s+ln2] with pwrs[:ln2], entries conv_start … conv_start+conv_len−1
      const aStart = k1 - V0s;
      const aLen = Math.max(0, Math.min(ln2, npwrs - aStart));
      const bLen = Math.min(ln2, npwrs);
      const convStart = j1 - k1;
      const convLen = j2 - j1 + 1;
      let maxV = -Infinity;
      for (let c = 0; c < convLen; c++) {
        const kk = convStart + c;
        let s = 0;
        const lo = Math.max(0, kk - (bLen - 1));
        const hi = Math.min(aLen - 1, kk);
        for (let a = lo; a <= hi; a++) s += V0[aStart + a]! * pwrs[kk - a]!;
        V1[c] = s;
        if (s > maxV) maxV = s;
      }
      for (let c = convLen; c < npwrs; c++) if (V1[c]! > maxV) maxV = V1[c]!;
      if (maxV > 0 && maxV < EM128) {
        for (let c = 0; c < npwrs; c++) V1[c]! *= EP128;
        expnt -= 128;
      }
      V1s = V0s + j1 - k1;
    }
  }
  let ans = V1[n - V1s]!;
  for (let m = 1; m <= n; m++) {
    if (Math.abs(ans) > EP128) {
      ans *= EM128;
      expnt += 128;
    }
    ans *= m;
  }
  if (expnt !== 0) ans = ans * 2 ** expnt;
  return clip01(ans);
}

/** The Pelz–Good asymptotic expansion (1976): P(D_n ≤ x). */
function kolmognPelzGood(n: number, x: number): number {
  if (x <= 0) return 0;
  if (x >= 1) return 1;
  const z = Math.sqrt(n) * x;
  const zsquared = z * z;
  const zthree = zsquared * z;
  const zfour = zsquared * zsquared;
  const zsix = zfour * zsquared;
  const qlog = -PI_SQUARED / 8 / zsquared;
  if (qlog < MIN_LOG) return 0;
  let q = Math.exp(qlog);
  const k1a = -zsquared;
  const k1b = PI_SQUARED / 4;
  const k2a = 6 * zsix + 2 * zfour;
  const k2b = ((2 * zfour - 5 * zsquared) * PI_SQUARED) / 4;
  const k2c = (PI_FOUR * (1 - 2 * zsquared)) / 16;
  const k3d = (PI_SIX * (5 - 30 * zsquared)) / 64;
  const k3c = (PI_FOUR * (-60 * zsquared + 212 * zfour)) / 16;
  const k3b = (PI_SQUARED * (135 * zfour - 96 * zsix)) / 4;
  const k3a = -30 * zsix - 90 * z ** 8;
  let K0 = 0;
  let K1 = 0;
  let K2 = 0;
  let K3 = 0;
  const maxk = Math.ceil((16 * z) / Math.PI);
  for (let k = maxk; k > 0; k--) {
    const m = 2 * k - 1;
    const msquared = m * m;
    const mfour = msquared * msquared;
    const msix = mfour * msquared;
    const qpower = q ** (8 * k);
    K0 = K0 * qpower + 1;
    K1 = K1 * qpower + (k1a + k1b * msquared);
    K2 = K2 * qpower + (k2a + k2b * msquared + k2c * mfour);
    K3 = K3 * qpower + (k3a + k3b * msquared + k3c * mfour + k3d * msix);
  }
  K0 = (K0 * q * SQRT_2PI) / z;
  K1 = (K1 * q * SQRT_2PI) / (6 * zfour);
  K2 = (K2 * q * SQRT_2PI) / (72 * z ** 7);
  K3 = (K3 * q * SQRT_2PI) / (6480 * z ** 10);
  q = Math.exp(-PI_SQUARED / 2 / zsquared);
  const sqrt3z = SQRT3 * z;
  let k2extra = 0;
  let k3extra = 0;
  for (let k = maxk; k > 0; k--) {
    const ksq = k * k;
    const qp = q ** ksq;
    const kspi = Math.PI * k;
    k2extra += ksq * qp;
    k3extra += (sqrt3z + kspi) * (sqrt3z - kspi) * ksq * qp;
  }
  K2 += (k2extra * PI_SQUARED * SQRT_2PI) / (-36 * zthree);
  K3 += (k3extra * PI_SQUARED * SQRT_2PI) / (216 * zsix);
  K1 /= Math.sqrt(n);
  K2 /= n;
  K3 /= n ** 1.5;
  return K0 + K1 + K2 + K3;
}

function logNFactorialDivNPowN(n: number): number {
  const rn = 1 / n;
  const c = [
    -2.955065359477124183e-2, 6.4102564102564102564e-3, -1.9175269175269175269e-3, 8.4175084175084175084e-4,
    -5.952380952380952381e-4, 7.9365079365079365079e-4, -2.7777777777777777778e-3, 8.3333333333333333333e-2,
  ];
  const y = rn / n;
  let poly = 0;
  for (const ci of c) poly = poly * y + ci;
  return Math.log(n) / 2 - n + LOG_2PI / 2 + rn * poly;
}

/**
 * P(D_n > d) for the two-sided one-sample Kolmogorov–Smirnov statistic D_n with n observations
 * (scipy `stats.kstwo.sf(d, n)`); n a positive integer, else NaN.
 */
export function kolmogorovNSf(n: number, d: number): number {
  if (Number.isNaN(n) || Number.isNaN(d)) return NaN;
  if (!Number.isInteger(n) || n <= 0) return NaN;
  if (d >= 1) return 0;
  if (d <= 0) return 1;
  const t = n * d;
  if (t <= 1) {
    if (t <= 0.5) return 1;
    let prob: number;
    if (n <= 140) {
      prob = 1;
      const c = 2 * t - 1;
      for (let i = 1; i <= n; i++) prob *= i * (1 / n) * c;
    } else {
      prob = Math.exp(logNFactorialDivNPowN(n) + n * Math.log(2 * t - 1));
    }
    return clip01(1 - prob);
  }
  if (t >= n - 1) return clip01(2 * (1 - d) ** n);
  if (d >= 0.5) return clip01(2 * smirnovSf(n, d));
  const nxsquared = t * d;
  if (n <= 140) {
    if (nxsquared <= 0.754693) return clip01(1 - kolmognDurbinMatrix(n, d));
    if (nxsquared <= 4) return clip01(1 - kolmognPomeranz(n, d));
    return clip01(2 * smirnovSf(n, d));
  }
  if (nxsquared >= 370) return 0;
  if (nxsquared >= 2.2) return clip01(2 * smirnovSf(n, d));
  let cdf: number;
  if (nxsquared >= 18) cdf = 1;
  else if (n <= 100000 && n * d ** 1.5 <= 1.4) cdf = kolmognDurbinMatrix(n, d);
  else cdf = kolmognPelzGood(n, d);
  return clip01(1 - clip01(cdf));
}
