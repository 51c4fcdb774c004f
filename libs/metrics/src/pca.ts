import { EigenvalueDecomposition, Matrix } from 'ml-matrix';
import { InputError } from '@landscape/core';
import { checkCheckpoints, checkPoints } from './checkpoints';

/**
 * PCA of a checkpoint matrix (rows = flat parameter vectors, n ≤ a few hundred, P up to millions) through the
 * n×n Gram matrix of the mean-centred rows, never an SVD of the n×P matrix: G = Xc Xcᵀ = U S² Uᵀ, so the
 * right singular vectors are Xcᵀ u_k / s_k and the scores are u_k s_k. Conventions follow scikit-learn's
 * PCA(svd_solver='full'): explained_variance = s²/(n−1), ratios over ALL components, and for each component
 * the row with the largest |score| gets a positive score (svd_flip).
 */
export interface PcaModel {
  nSamples: number;
  nFeatures: number;
  nComponents: number;
  /** Column means of the fitted rows. */
  mean: Float64Array;
  /** Unit principal axes, each of length nFeatures. */
  components: Float64Array[];
  singularValues: number[];
  explainedVariance: number[];
  explainedVarianceRatio: number[];
  /** Ratio of every component (min(n, P) of them), as scikit-learn's full SVD reports them. */
  explainedVarianceRatioAll: number[];
  /** Scores of the fitted rows, n × nComponents (= transform of the fitted rows). */
  embedding: number[][];
  /** Mean over all n·P entries of (X − inverse(transform(X)))², from the discarded eigenvalues. */
  reconstructionMse: number;
  /** The centred Gram matrix Xc Xcᵀ, row-major n×n: pairwise distances of the rows come from it for free. */
  centredGram: Float64Array;
  /** Wall-clock seconds of each stage. */
  timings: PcaTimings;
}

export interface PcaTimings {
  /** Input checks (shape, finite values) and column means. */
  mean: number;
  gram: number;
  eigen: number;
  components: number;
  total: number;
}

export interface PcaOptions {
  /** Number of principal axes (default 2). */
  components?: number;
}

/** Columns per block: n rows of the block stay in L2 while every row pair is formed (200 × 256 × 8 B = 400 KB). */
const BLOCK = 256;

const seconds = (start: bigint): number => Number(process.hrtime.bigint() - start) / 1e9;

function columnMean(rows: readonly Float64Array[], p: number): Float64Array {
  const mean = new Float64Array(p);
  for (const row of rows) for (let c = 0; c < p; c++) mean[c] += row[c]!;
  for (let c = 0; c < p; c++) mean[c] = mean[c]! / rows.length;
  return mean;
}

/**
 * G = Xc Xcᵀ in float64. Columns are taken in blocks of BLOCK: each block is centred into a small buffer
 * (padded with zero rows to a multiple of 4), then a 4×2 kernel forms 8 dot products at once, loading 6
 * numbers per 8 multiply-adds (measured ~1.3× faster than 2×2 here). Only row pairs with j ≤ i (+ the
 * kernel's overhang) are formed, then the lower triangle is mirrored. Each block's partial dot products are
 * summed separately before being added to G, which also keeps rounding low.
 */
export function centredGram(rows: readonly Float64Array[], mean: Float64Array): Float64Array {
  const n = rows.length;
  const p = mean.length;
  const ne = Math.ceil(n / 4) * 4;
  const block = new Float64Array(ne * BLOCK);
  const acc = new Float64Array(ne * ne);
  for (let c0 = 0; c0 < p; c0 += BLOCK) {
    const w = Math.min(BLOCK, p - c0);
    for (let i = 0; i < n; i++) {
      const row = rows[i]!;
      const off = i * w;
      for (let c = 0; c < w; c++) block[off + c] = row[c0 + c]! - mean[c0 + c]!;
    }
    if (ne !== n) block.fill(0, n * w, ne * w);
    for (let i = 0; i < ne; i += 4) {
      const a0 = i * w;
      const a1 = a0 + w;
      const a2 = a1 + w;
      const a3 = a2 + w;
      for (let j = 0; j <= i + 2; j += 2) {
        const b0 = j * w;
        const b1 = b0 + w;
        let s00 = 0;
        let s01 = 0;
        let s10 = 0;
        let s11 = 0;
        let s20 = 0;
        let s21 = 0;
        let s30 = 0;
        let s31 = 0;
        for (let c = 0; c < w; c++) {
          const y0 = block[b0 + c]!;
          const y1 = block[b1 + c]!;
          let x = block[a0 + c]!;
          s00 += x * y0;
          s01 += x * y1;
          x = block[a1 + c]!;
          s10 += x * y0;
          s11 += x * y1;
          x = block[a2 + c]!;
          s20 += x * y0;
          s21 += x * y1;
          x = block[a3 + c]!;
          s30 += x * y0;
          s31 += x * y1;
        }
        const r = i * ne + j;
        acc[r] += s00;
        acc[r + 1] += s01;
        acc[r + ne] += s10;
        acc[r + ne + 1] += s11;
        acc[r + 2 * ne] += s20;
        acc[r + 2 * ne + 1] += s21;
        acc[r + 3 * ne] += s30;
        acc[r + 3 * ne + 1] += s31;
      }
    }
  }
  const gram = new Float64Array(n * n);
  for (let i = 0; i < n; i++) {
    for (let j = 0; j <= i; j++) {
      const v = acc[i * ne + j]!;
      gram[i * n + j] = v;
      gram[j * n + i] = v;
    }
  }
  return gram;
}

/** Eigenpairs of a symmetric n×n matrix, eigenvalues descending, eigenvectors as rows. */
function symmetricEigen(gram: Float64Array, n: number): { values: number[]; vectors: Float64Array[] } {
  const matrix = new Matrix(n, n);
  for (let i = 0; i < n; i++) for (let j = 0; j < n; j++) matrix.set(i, j, gram[i * n + j]!);
  const evd = new EigenvalueDecomposition(matrix, { assumeSymmetric: true });
  const vectorMatrix = evd.eigenvectorMatrix;
  const order = evd.realEigenvalues.map((value, index) => ({ value, index })).sort((a, b) => b.value - a.value);
  return {
    values: order.map((entry) => entry.value),
    vectors: order.map((entry) => Float64Array.from(vectorMatrix.getColumn(entry.index))),
  };
}

export function fitPca(rows: readonly Float64Array[], options: PcaOptions = {}): PcaModel {
  const field = 'checkpoints';
  const t0 = process.hrtime.bigint();
  const { n, p } = checkCheckpoints(rows, field);
  const k = options.components ?? 2;
  if (!Number.isInteger(k) || k < 1 || k > Math.min(n, p)) {
    throw new InputError(`must be an integer from 1 to min(checkpoints, parameters) = ${Math.min(n, p)}, got ${k}`, 'components');
  }
  const mean = columnMean(rows, p);
  const tMean = seconds(t0);

  const t1 = process.hrtime.bigint();
  const gram = centredGram(rows, mean);
  const tGram = seconds(t1);

  const t2 = process.hrtime.bigint();
  const eigen = symmetricEigen(gram, n);
  // Rounding can leave tiny negative eigenvalues; the centred matrix has at most min(n, P) non-zero ones.
  const lambdas = eigen.values.slice(0, Math.min(n, p)).map((value) => Math.max(value, 0));
  const total = lambdas.reduce((a, b) => a + b, 0);
  if (!(total > 0)) throw new InputError('all checkpoints are identical: there is no variance to analyse', field);
  const rank = lambdas.filter((value) => value > lambdas[0]! * 1e-12).length;
  if (k > rank) {
    throw new InputError(`the checkpoints span only ${rank} direction(s) around their mean; ask for at most ${rank}`, 'components');
  }
  const singularValues = lambdas.slice(0, k).map(Math.sqrt);
  const us = eigen.vectors.slice(0, k).map((u) => {
    // scikit-learn's svd_flip: the row with the largest |score| (first one on ties) scores positive.
    let best = 0;
    for (let i = 1; i < n; i++) if (Math.abs(u[i]!) > Math.abs(u[best]!)) best = i;
    return u[best]! < 0 ? u.map((value) => -value) : u;
  });
  const tEigen = seconds(t2);

  const t3 = process.hrtime.bigint();
  const components = axesFromGramVectors(rows, mean, us, singularValues);
  const tComponents = seconds(t3);

  const kept = lambdas.slice(0, k).reduce((a, b) => a + b, 0);
  return {
    nSamples: n,
    nFeatures: p,
    nComponents: k,
    mean,
    components,
    singularValues,
    explainedVariance: lambdas.slice(0, k).map((value) => value / (n - 1)),
    explainedVarianceRatio: lambdas.slice(0, k).map((value) => value / total),
    explainedVarianceRatioAll: lambdas.map((value) => value / total),
    embedding: Array.from({ length: n }, (_, i) => us.map((u, c) => u[i]! * singularValues[c]!)),
    reconstructionMse: Math.max(total - kept, 0) / (n * p),
    centredGram: gram,
    timings: { mean: tMean, gram: tGram, eigen: tEigen, components: tComponents, total: seconds(t0) },
  };
}

/** v_k = Xcᵀ u_k / s_k, column block by column block so the K output blocks stay in cache across rows. */
function axesFromGramVectors(rows: readonly Float64Array[], mean: Float64Array, us: Float64Array[], singular: number[]): Float64Array[] {
  const p = mean.length;
  const axes = us.map(() => new Float64Array(p));
  const coefficients = us.map((u, k) => u.map((value) => value / singular[k]!));
  const chunk = 4096;
  for (let c0 = 0; c0 < p; c0 += chunk) {
    const c1 = Math.min(p, c0 + chunk);
    rows.forEach((row, i) => {
      for (let k = 0; k < axes.length; k++) {
        const axis = axes[k]!;
        const a = coefficients[k]![i]!;
        for (let c = c0; c < c1; c++) axis[c] += a * (row[c]! - mean[c]!);
      }
    });
  }
  return axes;
}

function checkOrigin(model: PcaModel, origin: Float64Array): void {
  if (origin.length !== model.nFeatures) throw new InputError(`has ${origin.length} parameters, the PCA was fitted on ${model.nFeatures}`, 'origin');
}

/**
 * Scores (x − origin)·v_k of each row. With the default origin (the mean) this is scikit-learn's transform;
 * with origin θ_final it is the Li et al. projection (no re-centring).
 */
export function pcaTransform(model: PcaModel, rows: readonly Float64Array[], origin: Float64Array = model.mean): number[][] {
  checkOrigin(model, origin);
  rows.forEach((row, i) => {
    if (row.length !== model.nFeatures) throw new InputError(`row ${i} has ${row.length} parameters, the PCA was fitted on ${model.nFeatures}`, 'rows');
  });
  return rows.map((row) => {
    return model.components.map((axis) => {
      let sum = 0;
      for (let c = 0; c < axis.length; c++) sum += (row[c]! - origin[c]!) * axis[c]!;
      return sum;
    });
  });
}

/** origin + Σ_k z_k v_k for each point z: the exact inverse of pcaTransform on the principal subspace. */
export function pcaInverseTransform(model: PcaModel, points: readonly ArrayLike<number>[], origin: Float64Array = model.mean): Float64Array[] {
  checkOrigin(model, origin);
  checkPoints(points, model.nComponents);
  return points.map((point) => {
    const out = Float64Array.from(origin);
    model.components.forEach((axis, k) => {
      const z = point[k]!;
      for (let c = 0; c < out.length; c++) out[c] += z * axis[c]!;
    });
    return out;
  });
}

export interface LiTrajectoryPca {
  pca: PcaModel;
  /** Index of θ_final among the checkpoints. */
  finalIndex: number;
  /** (θ_i − θ_final)·v_k: the final checkpoint sits at the origin. */
  projection: number[][];
}

/**
 * Li et al. (2018) trajectory plot: PCA of D_i = θ_i − θ_final. PCA re-centres D, and D's mean-centred rows
 * are X's, so the axes, ratios and signs are those of X; only the projection is taken relative to θ_final
 * instead of the mean, i.e. the mean-centred scores shifted so that θ_final lands on (0, 0).
 */
export function liTrajectoryPca(checkpoints: readonly Float64Array[], options: PcaOptions & { finalIndex?: number } = {}): LiTrajectoryPca {
  const finalIndex = options.finalIndex ?? checkpoints.length - 1;
  if (!Number.isInteger(finalIndex) || finalIndex < 0 || finalIndex >= checkpoints.length) {
    throw new InputError(`must index one of the ${checkpoints.length} checkpoints, got ${finalIndex}`, 'finalIndex');
  }
  const pca = fitPca(checkpoints, options);
  const final = pca.embedding[finalIndex]!;
  return { pca, finalIndex, projection: pca.embedding.map((scores) => scores.map((value, k) => value - final[k]!)) };
}
