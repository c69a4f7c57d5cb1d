/**
 * The small dense solve Kernel SHAP's and LIME's weighted least squares share.
 */
import { BerthError } from '../core/index.js';

/**
 * Solve A·x = h for a symmetric positive (semi)definite d × d matrix A (row-major) by Cholesky.
 * When A is (numerically) singular, too few samples for the features, a ridge of growing size is
 * added to the diagonal until it factors. `what` names the caller in the error when even that fails.
 */
export function solveSymmetric(A: Float64Array, h: Float64Array, d: number, what: string): Float64Array {
  let trace = 0;
  for (let i = 0; i < d; i++) trace += A[i * d + i]!;
  const scale = trace > 0 ? trace / d : 1;
  const L = new Float64Array(d * d);
  for (let ridge = 0; ; ridge = ridge === 0 ? 1e-12 * scale : ridge * 100) {
    if (cholesky(A, L, d, ridge)) break;
    if (ridge > scale) throw new BerthError('INTERNAL', `${what}: the least-squares system could not be solved`);
  }
  const y = new Float64Array(d);
  for (let i = 0; i < d; i++) {
    let s = h[i]!;
    for (let k = 0; k < i; k++) s -= L[i * d + k]! * y[k]!;
    y[i] = s / L[i * d + i]!;
  }
  const x = new Float64Array(d);
  for (let i = d - 1; i >= 0; i--) {
    let s = y[i]!;
    for (let k = i + 1; k < d; k++) s -= L[k * d + i]! * x[k]!;
    x[i] = s / L[i * d + i]!;
  }
  return x;
}

function cholesky(A: Float64Array, L: Float64Array, d: number, ridge: number): boolean {
  L.fill(0);
  for (let i = 0; i < d; i++) {
    for (let j = 0; j <= i; j++) {
      const a = A[i * d + j]! + (i === j ? ridge : 0);
      let s = a;
      for (let k = 0; k < j; k++) s -= L[i * d + k]! * L[j * d + k]!;
      if (i === j) {
        // a pivot lost to cancellation means A is (numerically) singular
        if (!(s > 1e-13 * a) || !(s > 0)) return false;
        L[i * d + i] = Math.sqrt(s);
      } else {
        L[i * d + j] = s / L[j * d + j]!;
      }
    }
  }
  return true;
}
