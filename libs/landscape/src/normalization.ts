import { InputError } from './errors';
import { norm, tensorView, type WeightLayout } from './weights';

/** How a direction is rescaled relative to the weights (Li et al. 2018 and the common variants). */
export const NORMALIZATIONS = ['filter', 'layer', 'model', 'none'] as const;
export type Normalization = (typeof NORMALIZATIONS)[number];

/** Bias-like tensors (biases, BN/LN gamma/beta, PReLU slopes): `ignore` zeroes them; `include` sets the direction to the weights. */
export const BIAS_HANDLINGS = ['ignore', 'include'] as const;
export type BiasHandling = (typeof BIAS_HANDLINGS)[number];

const FILTER_EPSILON = 1e-10;

/**
 * Returns the normalized copy of direction `d` with respect to weights `theta` (method.md, "Directions and
 * filter normalization"). Non-trainable tensors (BN moving statistics) always get a zero direction; `none`
 * returns the direction verbatim apart from that.
 */
export function normalizeDirection(d: Float64Array, theta: Float64Array, layout: WeightLayout, normalization: Normalization, bias: BiasHandling): Float64Array {
  const out = new Float64Array(d);
  for (const spec of layout) {
    const dv = tensorView(out, spec);
    if (!spec.trainable) {
      dv.fill(0);
      continue;
    }
    if (normalization === 'none') continue;
    const wv = tensorView(theta, spec);
    if (spec.filterAxes.length === 0) {
      if (bias === 'ignore') dv.fill(0);
      else dv.set(wv);
      continue;
    }
    if (normalization === 'filter') normalizeFilters(dv, wv, spec.shape, spec.filterAxes);
    else if (normalization === 'layer') scaleTo(dv, norm(wv));
  }
  if (normalization === 'model') {
    const trainable = layout.filter((spec) => spec.trainable);
    const thetaNorm = Math.sqrt(trainable.reduce((sum, spec) => sum + norm(tensorView(theta, spec)) ** 2, 0));
    scaleTo(out, thetaNorm);
  }
  return out;
}

/**
 * Filter j of a weight is every element whose index along `filterAxes` (contiguous, read as one index) is j: for
 * a Dense/Conv kernel the last axis, for a Conv2DTranspose kernel axis 2, for a depthwise kernel the last two.
 */
function normalizeFilters(d: Float64Array, w: Float64Array, shape: readonly number[], filterAxes: readonly number[]): void {
  const stride = shape.slice(filterAxes.at(-1)! + 1).reduce((a, b) => a * b, 1);
  const outputs = filterAxes.reduce((count, axis) => count * shape[axis]!, 1);
  const filterOf = (i: number): number => Math.floor(i / stride) % outputs;
  const dNorms = new Float64Array(outputs);
  const wNorms = new Float64Array(outputs);
  for (let i = 0; i < d.length; i++) {
    const j = filterOf(i);
    dNorms[j] += d[i]! * d[i]!;
    wNorms[j] += w[i]! * w[i]!;
  }
  const scale = new Float64Array(outputs);
  for (let j = 0; j < outputs; j++) scale[j] = Math.sqrt(wNorms[j]!) / (Math.sqrt(dNorms[j]!) + FILTER_EPSILON);
  for (let i = 0; i < d.length; i++) d[i] *= scale[filterOf(i)]!;
}

function scaleTo(v: Float64Array, target: number): void {
  const current = norm(v);
  if (current === 0) return;
  const factor = target / current;
  for (let i = 0; i < v.length; i++) v[i] *= factor;
}

/** Gram–Schmidt: the part of `v` orthogonal to `u`. */
export function orthogonalize(v: Float64Array, u: Float64Array): Float64Array {
  let uv = 0;
  let uu = 0;
  for (let i = 0; i < u.length; i++) {
    uv += u[i]! * v[i]!;
    uu += u[i]! * u[i]!;
  }
  if (uu === 0) throw new InputError('cannot orthogonalize against a zero direction');
  const out = new Float64Array(v.length);
  for (let i = 0; i < v.length; i++) out[i] = v[i]! - (uv / uu) * u[i]!;
  return out;
}
