import { beforeAll, afterAll, describe, expect, it } from 'vitest';
import { selectBackend } from '../backend';
import { createRng } from '../random';
import { exactSpectrum, type ExactSpectrum } from './exact';
import { hutchinson } from './hutchinson';
import { hutchpp } from './hutchpp';
import { HessianOperator, type LinearOperator } from './hvp';
import { lanczos } from './lanczos';
import { dot, gaussian, norm, orthogonalizeAgainst, scaleInPlace } from './linalg';
import { powerIteration } from './power';
import { slq, trapezoid } from './slq';
import { MODELS, referenceCase } from './fixtures.test-util';

/** A dense symmetric test matrix Q·diag(λ)·Qᵀ with a random orthogonal Q and a known spectrum. */
function knownMatrix(spectrum: number[], seed: number): LinearOperator & { spectrum: number[] } {
  const n = spectrum.length;
  const rng = createRng(seed);
  const q: Float64Array[] = [];
  while (q.length < n) {
    const v = gaussian(n, rng);
    orthogonalizeAgainst(v, q);
    q.push(scaleInPlace(v, 1 / norm(v)));
  }
  return {
    dimension: n,
    spectrum: [...spectrum].sort((a, b) => a - b),
    apply(v) {
      const out = new Float64Array(n);
      q.forEach((qi, i) => {
        const c = spectrum[i]! * dot(qi, v);
        for (let r = 0; r < n; r++) out[r] += c * qi[r]!;
      });
      return out;
    },
  };
}

describe('solvers on a matrix with a known spectrum', () => {
  // 120 eigenvalues: a bulk in [−0.5, 1], a few outliers, two close negative ones at the bottom.
  const spectrum = [...Array.from({ length: 112 }, (_, i) => -0.5 + (1.5 * i) / 111), 9, 7, 5.5, 4, 3, -1.0, -1.02, -0.8];
  const op = knownMatrix(spectrum, 3);
  const sorted = op.spectrum;
  const trace = spectrum.reduce((a, b) => a + b, 0);

  it('power iteration and Hutchinson reuse the product buffers they are given back, with the same numbers', () => {
    // The same matrix, writing into the buffer when one is given (as HessianOperator does).
    let reused = 0;
    const writing: LinearOperator = {
      dimension: op.dimension,
      apply(v, into) {
        expect(into).not.toBe(v);
        const product = op.apply(v);
        if (!into) return product;
        reused++;
        into.set(product);
        return into;
      },
    };
    const power = [powerIteration(op, { k: 2, tol: 1e-6, seed: 4 }), powerIteration(writing, { k: 2, tol: 1e-6, seed: 4 })];
    expect(power[1]!.eigenvalues).toEqual(power[0]!.eigenvalues);
    expect(power[1]!.eigenvectors.map((v) => Array.from(v))).toEqual(power[0]!.eigenvectors.map((v) => Array.from(v)));
    expect(power[1]!.hvps).toBe(power[0]!.hvps);
    // Every product but the first of each eigenpair goes into the previous iterate.
    expect(reused).toBe(power[1]!.hvps - 2);
    reused = 0;
    expect(hutchinson(writing, { samples: 12, seed: 5 }).value).toBe(hutchinson(op, { samples: 12, seed: 5 }).value);
    expect(reused).toBe(11);
  });

  it('power iteration with deflation finds the dominant eigenpairs', () => {
    const result = powerIteration(op, { k: 3, tol: 1e-6, seed: 1 });
    expect(result.converged).toBe(true);
    result.eigenvalues.forEach((value, i) => expect(value).toBeCloseTo(sorted[sorted.length - 1 - i]!, 8));
    expect(Math.abs(dot(result.eigenvectors[0]!, result.eigenvectors[1]!))).toBeLessThan(1e-6);
    expect(result.hvps).toBeGreaterThan(0);
  });

  it('Lanczos finds top-k and the close bottom pair, with Ritz vectors', () => {
    const result = lanczos(op, { top: 4, bottom: 2, tol: 1e-9, seed: 2 });
    expect(result.converged).toBe(true);
    expect(result.top.eigenvalues.map((v) => +v.toFixed(8))).toEqual([9, 7, 5.5, 4]);
    expect(result.bottom.eigenvalues[0]).toBeCloseTo(-1.02, 8);
    expect(result.bottom.eigenvalues[1]).toBeCloseTo(-1.0, 8);
    const v = result.top.eigenvectors[0]!;
    const hv = op.apply(v);
    hv.forEach((x, i) => expect(x).toBeCloseTo(9 * v[i]!, 6));
    expect(result.iterations).toBeLessThanOrEqual(op.dimension);
  });

  it('Hutchinson and Hutch++ agree with the trace within 3 standard errors', () => {
    const h = hutchinson(op, { samples: 200, seed: 4 });
    expect(Math.abs(h.value - trace)).toBeLessThan(3 * h.stderr);
    const hpp = hutchpp(op, { samples: 60, seed: 4 });
    expect(Math.abs(hpp.value - trace)).toBeLessThan(3 * hpp.stderr);
    expect(hpp.hvps).toBe(60);
    // The outliers are captured by the sketch, so for the same 60 products Hutch++ has the smaller error bar.
    expect(hpp.stderr).toBeLessThan(hutchinson(op, { samples: 60, seed: 4 }).stderr);
  });

  it('SLQ density integrates to 1, reproduces the mean eigenvalue and finds the extremes', () => {
    const density = slq(op, { runs: 8, steps: 40, seed: 5 });
    expect(trapezoid(density.grid, density.values)).toBeCloseTo(1, 12);
    const mean = trapezoid(
      density.grid,
      density.grid.map((t, i) => t * density.values[i]!),
    );
    // Each run's mean is vᵀHv/n for a normalized Rademacher v: standard deviation ≤ √(2Σλ²)/n.
    const sd = Math.sqrt((2 * spectrum.reduce((sum, l) => sum + l * l, 0)) / 8) / op.dimension;
    expect(Math.abs(mean - trace / op.dimension)).toBeLessThan(4 * sd);
    expect(Math.max(...density.runs.flatMap((r) => r.nodes))).toBeCloseTo(9, 6);
    expect(density.hvps).toBe(8 * 40);
  });

  it('exact mode recovers the whole spectrum', () => {
    const exact = exactSpectrum(op);
    exact.values.forEach((value, i) => expect(value).toBeCloseTo(sorted[i]!, 9));
    expect(exact.trace).toBeCloseTo(trace, 9);
    expect(exact.hvps).toBe(op.dimension);
  });
});

describe.each(MODELS)('solvers on the reference Hessian of %s (wasm)', (name) => {
  const ref = referenceCase(name);
  const { top5_eigenvalues_descending: top5, bottom2_eigenvalues_ascending: bottom2, trace, all_eigenvalues_ascending: all } = ref.hessian;
  const lambdaMax = top5[0]!;
  let hessian: HessianOperator;
  let exact: ExactSpectrum;

  beforeAll(async () => {
    await selectBackend('wasm');
    hessian = new HessianOperator(ref.setup, ref.theta);
    exact = exactSpectrum(hessian.operator);
  });
  afterAll(() => hessian.dispose());

  it('Lanczos: top-5 within 1e-4 relative, bottom-2 within 1e-4·|λmax|', () => {
    const result = lanczos(hessian.operator, { top: 5, bottom: 2, tol: 1e-7, maxSteps: hessian.operator.dimension, seed: 1 });
    expect(result.converged).toBe(true);
    result.top.eigenvalues.forEach((value, i) => expect(Math.abs(value - top5[i]!) / Math.abs(top5[i]!)).toBeLessThan(1e-4));
    result.bottom.eigenvalues.forEach((value, i) => expect(Math.abs(value - bottom2[i]!)).toBeLessThan(1e-4 * lambdaMax));
    console.log(`${name}: Lanczos top-5/bottom-2 in ${result.iterations} steps, ${result.hvps} HVPs, ${result.seconds.toFixed(2)} s`);
  });

  // Also passes on the CNN, but needs ~300 products there (~18 s on wasm); the MLP keeps the suite short.
  it.runIf(name === 'm1_mlp')('power iteration: top-5 within 1e-4 relative', () => {
    const result = powerIteration(hessian.operator, { k: 5, tol: 1e-5, seed: 2 });
    expect(result.converged).toBe(true);
    result.eigenvalues.forEach((value, i) => expect(Math.abs(value - top5[i]!) / top5[i]!).toBeLessThan(1e-4));
    console.log(`${name}: power top-5 in ${result.iterations} iterations, ${result.seconds.toFixed(2)} s`);
  });

  it('exact mode: trace within 1e-5 relative and the whole spectrum', () => {
    expect(Math.abs(exact.trace - trace) / Math.abs(trace)).toBeLessThan(1e-5);
    expect(exact.values.length).toBe(all.length);
    exact.values.forEach((value, i) => expect(Math.abs(value - all[i]!)).toBeLessThan(1e-5 * lambdaMax));
  });

  it('Hutchinson and Hutch++ traces lie within 3 standard errors', () => {
    const h = hutchinson(hessian.operator, { samples: 100, seed: 7 });
    expect(h.stderr).toBeGreaterThan(0);
    expect(Math.abs(h.value - trace)).toBeLessThan(3 * h.stderr);
    const hpp = hutchpp(hessian.operator, { samples: 60, seed: 7 });
    expect(Math.abs(hpp.value - trace)).toBeLessThan(3 * hpp.stderr);
  });

  it('SLQ density integrates to 1 and puts its mass where the exact eigenvalues are', () => {
    const density = slq(hessian.operator, { runs: 6, steps: 50, seed: 3 });
    expect(trapezoid(density.grid, density.values)).toBeCloseTo(1, 10);
    // The exact spectral density, smoothed with the same Gaussian, on the same grid.
    const gauss = (t: number) =>
      all.reduce((sum, l) => sum + Math.exp(-0.5 * ((t - l) / density.sigma) ** 2), 0) / (all.length * density.sigma * Math.sqrt(2 * Math.PI));
    const exactValues = density.grid.map(gauss);
    const l1 = trapezoid(
      density.grid,
      density.values.map((v, i) => Math.abs(v - exactValues[i]!)),
    );
    console.log(`${name}: SLQ L1 distance to the smoothed exact density ${l1.toFixed(3)}`);
    expect(l1).toBeLessThan(0.15);
    expect(Math.max(...density.runs.flatMap((r) => r.nodes))).toBeCloseTo(lambdaMax, 4);
    expect(Math.min(...density.runs.flatMap((r) => r.nodes))).toBeGreaterThan(bottom2[0]! - 1e-4 * lambdaMax);
  });
});
