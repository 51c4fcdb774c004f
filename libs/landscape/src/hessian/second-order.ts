import * as tf from '@tensorflow/tfjs-core';
import { columnSums, matMul2d, matMulFormsFast, shiftedRowProducts } from '../blas';

/**
 * Gradients that can be differentiated again (tfjs-on-node.md, "Correctness traps").
 *
 * tfjs saves a kernel's OUTPUT for its gradient as a clone whose tape node is recorded before the kernel's own
 * node, so a second backward pass cannot see that the saved output depends on the input: Exp, Tanh, Sigmoid,
 * Softmax, Elu, Pow, LogSoftmax and every `customGrad` op give silently wrong second derivatives. Comparison
 * ops have no gradient at all, Conv2DBackpropFilter has none (and no wasm kernel), MaxPoolGrad / AvgPoolGrad
 * have none (and wasm's MaxPoolGrad is wrong). `installSecondOrderGradients` re-registers those gradients so
 * they recompute from the op's inputs with differentiable ops, and makes every remaining gradient that reuses
 * a saved output (or comes from customGrad) throw `SecondOrderUnsupportedError` when a second derivative is
 * taken through it. Registration is global and first-order results are unchanged (same formulas).
 *
 * Speed (docs/performance.md): convolution gradients are conv2d kernels (a Conv2DBackpropFilter kernel is
 * registered where the backend has none), pooling windows that tile the input get a broadcast gradient, and matMul
 * gradients avoid transposing the wide operand; wasm's slices, comparisons and host reads are avoided on the paths
 * a Hessian-vector product takes.
 */
export class SecondOrderUnsupportedError extends Error {
  constructor(readonly op: string) {
    super(
      `second derivative through '${op}' is not supported: its tfjs gradient reuses a saved output, so a Hessian ` +
        'through it would be silently wrong (write the computation with differentiable ops instead)',
    );
    this.name = 'SecondOrderUnsupportedError';
  }
}

/** Identity kernel whose gradient throws: marks a first-order gradient that must not be differentiated again. */
const GUARD = 'LandscapeSecondOrderGuard';

/** Kernel giving the first-maximum mask of max-pool windows that tile the input (see `tiledMaxPoolGradient`). */
const FIRST_MAXIMA = 'LandscapeMaxPoolFirstMaxima';
/** Kernel spreading per-window values over tiling windows' cells (see `spreadOverWindows`). */
const SPREAD = 'LandscapeSpreadOverWindows';
const INVARIANT_SHIFT = 'LandscapeInvariantShift';

/** Gradients that reuse a saved output but stay exact to second order (the output only feeds a comparison mask). */
const SAFE_OUTPUT_SAVERS = new Set(['Max', 'Min']);

/** Gradients that save no output yet give silently wrong second derivatives: Unpack (tf.unstack). */
const WRONG_SECOND_ORDER = new Set(['Unpack']);

type Pad = 'valid' | 'same' | number | [[number, number], [number, number], [number, number], [number, number]];

// ---------------------------------------------------------------------------------------------------------------
// Sliding-window geometry and differentiable patch extraction (im2col by slices). Used for conv weight gradients
// and pooling gradients: only slice/pad/reshape/concat/matMul, which every backend has and which differentiate.

interface Window {
  n: number;
  h: number;
  w: number;
  c: number;
  kh: number;
  kw: number;
  sh: number;
  sw: number;
  dh: number;
  dw: number;
  outH: number;
  outW: number;
  top: number;
  left: number;
  /** Height/width of the padded input, extended so every strided slice stays inside it. */
  hp: number;
  wp: number;
}

function pair(value: number | [number, number]): [number, number] {
  return typeof value === 'number' ? [value, value] : value;
}

function axisGeometry(size: number, k: number, stride: number, dilation: number, pad: Pad, axis: 1 | 2): { out: number; before: number; after: number } {
  const effective = (k - 1) * dilation + 1;
  if (pad === 'valid') return { out: Math.ceil((size - effective + 1) / stride), before: 0, after: 0 };
  if (pad === 'same') {
    const out = Math.ceil(size / stride);
    const total = Math.max((out - 1) * stride + effective - size, 0);
    return { out, before: Math.floor(total / 2), after: total - Math.floor(total / 2) };
  }
  const [before, after] = typeof pad === 'number' ? [pad, pad] : pad[axis];
  return { out: Math.floor((size + before + after - effective) / stride) + 1, before, after };
}

function windowOf(shape: number[], filter: [number, number], strides: [number, number], dilations: [number, number], pad: Pad): Window {
  const [n, h, w, c] = shape as [number, number, number, number];
  const [kh, kw] = filter;
  const [sh, sw] = strides;
  const [dh, dw] = dilations;
  const rows = axisGeometry(h, kh, sh, dh, pad, 1);
  const cols = axisGeometry(w, kw, sw, dw, pad, 2);
  const hp = Math.max(h + rows.before + rows.after, (kh - 1) * dh + rows.out * sh);
  const wp = Math.max(w + cols.before + cols.after, (kw - 1) * dw + cols.out * sw);
  return { n, h, w, c, kh, kw, sh, sw, dh, dw, outH: rows.out, outW: cols.out, top: rows.before, left: cols.before, hp, wp };
}

function padInput(x: tf.Tensor, g: Window, value = 0): tf.Tensor4D {
  return tf.pad(
    x as tf.Tensor4D,
    [
      [0, 0],
      [g.top, g.hp - g.h - g.top],
      [g.left, g.wp - g.w - g.left],
      [0, 0],
    ],
    value,
  );
}

/** Window element (i, j) of every output position: [n, outH, outW, c], from the padded input. */
function extract(xp: tf.Tensor4D, g: Window, i: number, j: number): tf.Tensor4D {
  const { n, c, outH, outW, sh, sw } = g;
  const begin: [number, number, number, number] = [0, i * g.dh, j * g.dw, 0];
  if (sh === 1 && sw === 1) return tf.slice(xp, begin, [n, outH, outW, c]);
  // Take the strided rows/columns as the first entry of each stride block (no StridedSlice: it has no gradient).
  const block = tf.reshape(tf.slice(xp, begin, [n, outH * sh, outW * sw, c]), [n * outH, sh, outW, sw * c]);
  return tf.reshape(tf.slice(block, [0, 0, 0, 0], [n * outH, 1, outW, c]), [n, outH, outW, c]);
}

/** t [n, outH, outW, c] with t[p, q] moved to (p·sh, q·sw) and zeros between: [n, outH·sh, outW·sw, c]. */
function spreadByStrides(t: tf.Tensor, [sh, sw]: [number, number]): tf.Tensor4D {
  if (sh === 1 && sw === 1) return t as tf.Tensor4D;
  const [n, outH, outW, c] = t.shape as [number, number, number, number];
  const block = tf.pad(tf.reshape(t, [n * outH, 1, outW, c]), [
    [0, 0],
    [0, sh - 1],
    [0, 0],
    [0, (sw - 1) * c],
  ]);
  return tf.reshape(block, [n, outH * sh, outW * sw, c]);
}

/** The transpose of `extract`: scatters [n, outH, outW, c] back to window element (i, j) of the padded input. */
function place(t: tf.Tensor, g: Window, i: number, j: number): tf.Tensor4D {
  const { outH, outW, sh, sw } = g;
  const spread = spreadByStrides(t, [sh, sw]);
  const r0 = i * g.dh;
  const c0 = j * g.dw;
  return tf.pad(spread, [
    [0, 0],
    [r0, g.hp - r0 - outH * sh],
    [c0, g.wp - c0 - outW * sw],
    [0, 0],
  ]);
}

/** Crops a padded-input-shaped tensor back to the input. */
function crop(t: tf.Tensor4D, g: Window): tf.Tensor4D {
  return tf.slice(t, [0, g.top, g.left, 0], [g.n, g.h, g.w, g.c]);
}

/** Adds (positive) or removes (negative) rows and columns at the edges of an NHWC tensor. */
function reframe(t: tf.Tensor4D, [top, bottom]: [number, number], [left, right]: [number, number], value = 0): tf.Tensor4D {
  let out = t;
  if (top > 0 || bottom > 0 || left > 0 || right > 0) {
    const grow = (k: number): number => Math.max(k, 0);
    out = tf.pad(
      out,
      [
        [0, 0],
        [grow(top), grow(bottom)],
        [grow(left), grow(right)],
        [0, 0],
      ],
      value,
    );
  }
  if (top < 0 || bottom < 0 || left < 0 || right < 0) {
    const cut = (k: number): number => Math.max(-k, 0);
    const [n, h, w, c] = out.shape;
    out = tf.slice(out, [0, cut(top), cut(left), 0], [n, h - cut(top) - cut(bottom), w - cut(left) - cut(right), c]);
  }
  return out;
}

/** dL/dW of a conv2d (the Conv2DBackpropFilter kernel; backends without one get `conv2dBackpropFilterKernel`). */
export function convFilterGradient(x: tf.Tensor, dy: tf.Tensor, filterShape: number[], strides: [number, number], pad: Pad): tf.Tensor {
  return tf.engine().runKernel('Conv2DBackpropFilter', { x, dy }, { strides, pad, dataFormat: 'NHWC', filterShape }) as tf.Tensor;
}

/**
 * dL/dx of a conv2d as a stride-1 convolution of dy (spread by the strides, padded) with the flipped filter:
 * conv2d is the fast kernel everywhere (wasm's Conv2DBackpropInput is a scalar loop, ~10x slower), and it is
 * made of differentiable ops.
 */
function convInputGradient(dy: tf.Tensor, filter: tf.Tensor, xShape: number[], strides: [number, number], pad: Pad): tf.Tensor {
  const [kh, kw] = filter.shape as [number, number, number, number];
  const [, h, w] = xShape as [number, number, number, number];
  const [, outH, outW] = dy.shape as [number, number, number, number];
  const [sh, sw] = strides;
  const rows = axisGeometry(h, kh, sh, 1, pad, 1);
  const cols = axisGeometry(w, kw, sw, 1, pad, 2);
  const spread = spreadByStrides(dy, strides);
  // dx[r] = Σ_i spread[r + top − i]·W[i] = Σ_i' P[r + i']·W[kh − 1 − i'] with P = spread shifted by kh − 1 − top.
  // Zeros are added by the convolution's own padding, not a pad op (whose gradient, a slice, is slow on wasm).
  const [top, bottom, left, right] = [kh - 1 - rows.before, h + rows.before - outH * sh, kw - 1 - cols.before, w + cols.before - outW * sw];
  const cropped = reframe(spread, [Math.min(top, 0), Math.min(bottom, 0)], [Math.min(left, 0), Math.min(right, 0)]);
  const flipped = tf.transpose(tf.reverse(filter, [0, 1]), [0, 1, 3, 2]) as tf.Tensor4D;
  const padding: Pad = [
    [0, 0],
    [Math.max(top, 0), Math.max(bottom, 0)],
    [Math.max(left, 0), Math.max(right, 0)],
    [0, 0],
  ];
  return tf.conv2d(cropped, flipped, 1, padding);
}

type KernelRun = (name: string, inputs: tf.NamedTensorInfoMap, attrs: tf.NamedAttrMap) => tf.TensorInfo;
type KernelConstant = (values: Float32Array, shape: number[]) => tf.TensorInfo;

/** Runs backend kernels directly on TensorInfos (invisible to the tape) and frees every intermediate. */
function composite(backendName: string, backend: tf.KernelBackend, body: (run: KernelRun, constant: KernelConstant) => tf.TensorInfo): tf.TensorInfo {
  const made: tf.TensorInfo[] = [];
  const run: KernelRun = (name, inputs, attrs) => {
    const kernel = tf.getKernel(name, backendName);
    if (!kernel) throw new Error(`kernel '${name}' is not registered for backend '${backendName}'`);
    const out = kernel.kernelFunc({ inputs, backend, attrs }) as tf.TensorInfo;
    made.push(out);
    return out;
  };
  const constant: KernelConstant = (values, shape) => {
    const info = { dataId: backend.write(values, shape, 'float32'), shape, dtype: 'float32' as const };
    made.push(info);
    return info;
  };
  const result = body(run, constant);
  for (const info of made) if (info !== result) backend.disposeData(info.dataId);
  return result;
}

/**
 * Conv2DBackpropFilter for backends without it (wasm). dW[i, j, c, o] = Σ_{n,p,q} x[n, p·sh + i, q·sw + j, c]·dy[n,
 * p, q, o] is itself a convolution: x with batch and channels swapped, filtered by dy (batch as its input channels)
 * dilated by the strides. One fast conv2d instead of im2col by slices (wasm's 4-D slice copies one row at a time).
 * With stride 1 on OpenBLAS, kh·kw sgemm over shifted rows of the padded input instead: 2× faster than that conv
 * on a small CNN's layers (20.7 → 8.9 ms for 512 samples of 16×16×3 into 16 channels).
 */
function conv2dBackpropFilterKernel(backendName: string): tf.KernelConfig {
  return {
    kernelName: 'Conv2DBackpropFilter',
    backendName,
    kernelFunc: ({ inputs, backend, attrs = {} }) =>
      composite(backendName, backend as tf.KernelBackend, (run) => {
        const { x, dy } = inputs as { x: tf.TensorInfo; dy: tf.TensorInfo };
        if (attrs.dataFormat !== undefined && attrs.dataFormat !== 'NHWC')
          throw new SecondOrderUnsupportedError(`Conv2DBackpropFilter with dataFormat ${String(attrs.dataFormat)}`);
        const [kh, kw, inC, outC] = attrs.filterShape as [number, number, number, number];
        const strides = pair(attrs.strides as number | [number, number]);
        const pad = attrs.pad as Pad;
        const rows = axisGeometry(x.shape[1]!, kh, strides[0], 1, pad, 1);
        const cols = axisGeometry(x.shape[2]!, kw, strides[1], 1, pad, 2);
        const paddings = [
          [0, 0],
          [rows.before, rows.after],
          [cols.before, cols.after],
          [0, 0],
        ];
        const padded = paddings.some(([before, after]) => before! > 0 || after! > 0) ? run('PadV2', { x }, { paddings, constantValue: 0 }) : x;
        if (backendName === 'wasm' && matMulFormsFast() && strides[0] === 1 && strides[1] === 1) {
          // dW[i, j] = Σ_u x[u + (i, j)]ᵀ·dy[u] over the padded pixel grid, dy laid on it with zeros past its
          // outputs: kh·kw products of shifted rows (blas.ts), where OpenBLAS runs matMul.
          const [n, height, width] = padded.shape as [number, number, number, number];
          const onGrid = run(
            'PadV2',
            { x: dy },
            {
              paddings: [
                [0, 0],
                [0, height - dy.shape[1]!],
                [0, width - dy.shape[2]!],
                [0, 0],
              ],
              constantValue: 0,
            },
          );
          const offsets = Array.from({ length: kh * kw }, (_, k) => Math.floor(k / kw) * width + (k % kw));
          return shiftedRowProducts(backend as tf.KernelBackend, padded, onGrid, offsets, n * height * width - offsets.at(-1)!, [kh, kw, inC, outC]);
        }
        const images = run('Transpose', { x: padded }, { perm: [3, 1, 2, 0] });
        const filter = run('Transpose', { x: dy }, { perm: [1, 2, 0, 3] });
        let out = run('Conv2D', { x: images, filter }, { strides: [1, 1], pad: 'valid', dataFormat: 'NHWC', dilations: strides });
        // 'valid' windows that leave rows at the end (stride > 1) give more than kh rows: the first kh are dW.
        if (out.shape[1] !== kh || out.shape[2] !== kw) out = run('Slice', { x: out }, { begin: [0, 0, 0, 0], size: [inC, kh, kw, outC] });
        return run('Transpose', { x: out }, { perm: [1, 2, 0, 3] });
      }),
  };
}

/**
 * 1 at the first maximum (row-major) of every max-pool window, 0 elsewhere, for windows that tile the input
 * (stride = window), laid out as the [n, outH·kh, outW·kw, c] frame of the windows. Backend kernels only (a host
 * round trip of the activations costs more than the whole product): hits = (frame = window max); the first hit is
 * the one with the highest rank kh·kw − (i·kw + j), found by a second max-pool over rank·hits. Its gradient is
 * zero (the mask is piecewise constant).
 */
function firstMaximaKernel(backendName: string): tf.KernelConfig {
  return {
    kernelName: FIRST_MAXIMA,
    backendName,
    kernelFunc: ({ inputs, backend, attrs = {} }) =>
      composite(backendName, backend as tf.KernelBackend, (run, constant) => {
        const x = inputs.x!;
        const g = windowOf(x.shape, pair(attrs.filterSize as number), pair(attrs.strides as number), [1, 1], attrs.pad as Pad);
        const { n, h, w, c, kh, kw, outH, outW, top, left } = g;
        const frameShape = [n, outH * kh, outW * kw, c];
        const windows = [n * outH, kh, outW, kw, c];
        const perWindow = [n * outH, 1, outW, 1, c];
        const pool = { filterSize: [kh, kw], strides: [kh, kw], pad: 'valid' };
        // The frame: -∞ where a window reaches past the input, input rows/columns no window covers dropped.
        const bottom = outH * kh - h - top;
        const right = outW * kw - w - left;
        let frame = x;
        if (top > 0 || left > 0 || bottom > 0 || right > 0) {
          const paddings = [
            [0, 0],
            [top, Math.max(bottom, 0)],
            [left, Math.max(right, 0)],
            [0, 0],
          ];
          frame = run('PadV2', { x: frame }, { paddings, constantValue: Number.NEGATIVE_INFINITY });
        }
        if (bottom < 0 || right < 0) frame = run('Slice', { x: frame }, { begin: [0, 0, 0, 0], size: frameShape });
        const frame5 = run('Reshape', { x: frame }, { shape: windows });
        const maxima = run('Reshape', { x: run('MaxPool', { x: frame }, pool) }, { shape: perWindow });
        // Float ops only: wasm's comparison kernels are 10-100x slower than its arithmetic. For a ≤ b,
        // 1 − step(b − a) is 1 exactly where a = b.
        const one = constant(Float32Array.of(1), [1]);
        const equalsAbove = (a: tf.TensorInfo, b: tf.TensorInfo): tf.TensorInfo =>
          run('Sub', { a: one, b: run('Step', { x: run('Sub', { a: b, b: a }, {}) }, { alpha: 0 }) }, {});
        const rank = constant(
          Float32Array.from({ length: kh * kw }, (_, k) => kh * kw - k),
          [1, kh, 1, kw, 1],
        );
        const ranked = run('Multiply', { a: equalsAbove(frame5, maxima), b: rank }, {});
        const firstRank = run('MaxPool', { x: run('Reshape', { x: ranked }, { shape: frameShape }) }, pool);
        const first = equalsAbove(ranked, run('Reshape', { x: firstRank }, { shape: perWindow }));
        return run('Reshape', { x: first }, { shape: frameShape });
      }),
  };
}

/** Windows that tile the input: each input element is in at most one window, so a gradient is a broadcast. */
function tiles(g: Window): boolean {
  return g.sh === g.kh && g.sw === g.kw;
}

/** The window frame [n, outH·kh, outW·kw, c] of tiling windows back to the input's rows and columns. */
function unframe(t: tf.Tensor, g: Window): tf.Tensor4D {
  return reframe(t as tf.Tensor4D, [-g.top, g.top + g.h - g.outH * g.kh], [-g.left, g.left + g.w - g.outW * g.kw]);
}

/**
 * Each window's value ([n, outH, outW, c]) times its cells' weights (broadcast to [n·outH, kh, outW, kw, c]), as the
 * frame: one kernel (SPREAD) whose gradient sums each window by an average pool, where a broadcast multiply's
 * gradient would reduce axes 1 and 3, a strided reduction on wasm (5.9 against ~1.5 ms over 512×14×14×16).
 */
function spreadOverWindows(perWindow: tf.Tensor, cells: tf.Tensor, g: Window): tf.Tensor {
  return tf.engine().runKernel(SPREAD, { perWindow, cells }, { kh: g.kh, kw: g.kw }) as tf.Tensor;
}

function spreadKernel(backendName: string): tf.KernelConfig {
  return {
    kernelName: SPREAD,
    backendName,
    kernelFunc: ({ inputs, backend, attrs = {} }) =>
      composite(backendName, backend as tf.KernelBackend, (run) => {
        const { perWindow, cells } = inputs as { perWindow: tf.TensorInfo; cells: tf.TensorInfo };
        const [n, outH, outW, c] = perWindow.shape as [number, number, number, number];
        const [kh, kw] = [attrs.kh as number, attrs.kw as number];
        const spread = run('Multiply', { a: cells, b: run('Reshape', { x: perWindow }, { shape: [n * outH, 1, outW, 1, c] }) }, {});
        return run('Reshape', { x: spread }, { shape: [n, outH * kh, outW * kw, c] });
      }),
  };
}

/** SPREAD's gradient, from differentiable ops: window sums (an average pool × kh·kw) for the values, products for the cells. */
const spreadGradient: tf.GradConfig = {
  kernelName: SPREAD,
  inputsToSave: ['perWindow', 'cells'],
  gradFunc: (dy, [perWindow, cells], attrs) => {
    const frame = single(dy) as tf.Tensor4D;
    const [n, outH, outW, c] = perWindow!.shape as [number, number, number, number];
    const [kh, kw] = [attrs.kh as number, attrs.kw as number];
    const windows = tf.reshape(frame, [n * outH, kh, outW, kw, c]);
    return {
      perWindow: () => tf.mul(tf.avgPool(tf.reshape(tf.mul(windows, cells!), frame.shape) as tf.Tensor4D, [kh, kw], [kh, kw], 'valid'), kh * kw),
      cells: () => {
        const products = tf.mul(windows, tf.reshape(perWindow!, [n * outH, 1, outW, 1, c]));
        const broadcast = cells!.shape.flatMap((size, axis) => (size === 1 && products.shape[axis] !== 1 ? [axis] : []));
        return tf.reshape(broadcast.length ? tf.sum(products, broadcast, true) : products, cells!.shape);
      },
    };
  },
};

/** Results that depend only on a retained tape's saved tensors, while its products run (`withSavedResults`). */
let savedResults: Map<string, tf.Tensor> | undefined;

/**
 * Runs `body` (a walk back through a retained tape: retained-gradient.ts) with `results` as the store of what the
 * gradients compute from saved tensors alone, such as max-pool masks: computed by the first product, reused by the
 * others. The store's tensors are kept; its owner disposes them with the tape.
 */
export function withSavedResults<T>(results: Map<string, tf.Tensor>, body: () => T): T {
  const outer = savedResults;
  savedResults = results;
  try {
    return body();
  } finally {
    savedResults = outer;
  }
}

/** `compute()` once per tape for a key naming its saved inputs (tensor ids are never reused) and settings. */
function fromSaved(key: string, compute: () => tf.Tensor): tf.Tensor {
  if (!savedResults) return compute();
  let result = savedResults.get(key);
  if (!result) savedResults.set(key, (result = tf.keep(compute())));
  return result;
}

function maxPoolGradient(x: tf.Tensor4D, dy: tf.Tensor, filter: [number, number], strides: [number, number], pad: Pad): tf.Tensor {
  const g = windowOf(x.shape, filter, strides, [1, 1], pad);
  if (tiles(g)) {
    const firstMaxima = fromSaved(
      `first maxima of ${x.id} ${JSON.stringify([filter, strides, pad])}`,
      () => tf.engine().runKernel(FIRST_MAXIMA, { x }, { filterSize: filter, strides, pad }) as tf.Tensor,
    );
    return unframe(spreadOverWindows(dy, tf.reshape(firstMaxima, [g.n * g.outH, g.kh, g.outW, g.kw, g.c]), g), g);
  }
  const xp = padInput(x, g, Number.NEGATIVE_INFINITY);
  const y = tf.maxPool(x, filter, strides, pad as 'valid' | 'same' | number);
  let taken: tf.Tensor | undefined;
  let sum: tf.Tensor4D | undefined;
  for (let i = 0; i < g.kh; i++) {
    for (let j = 0; j < g.kw; j++) {
      // The first maximum of each window (row-major) takes the gradient, as TensorFlow does.
      let hit: tf.Tensor = tf.equal(extract(xp, g, i, j), y);
      if (taken) hit = tf.logicalAnd(hit, tf.logicalNot(taken));
      taken = taken ? tf.logicalOr(taken, hit) : hit;
      const part = place(tf.mul(dy, tf.cast(hit, 'float32')), g, i, j);
      sum = sum ? (tf.add(sum, part) as tf.Tensor4D) : part;
    }
  }
  return crop(sum!, g);
}

function avgPoolGradient(x: tf.Tensor4D, dy: tf.Tensor, filter: [number, number], strides: [number, number], pad: Pad): tf.Tensor {
  const g = windowOf(x.shape, filter, strides, [1, 1], pad);
  // Windows average over their in-bounds elements only ('same' padding is not counted).
  const one = { ...g, n: 1, c: 1 };
  const ones = padInput(tf.ones([1, g.h, g.w, 1]), one);
  let count: tf.Tensor | undefined;
  for (let i = 0; i < g.kh; i++) for (let j = 0; j < g.kw; j++) count = count ? tf.add(count, extract(ones, one, i, j)) : extract(ones, one, i, j);
  const share = tf.div(dy, count!);
  if (tiles(g)) return unframe(spreadOverWindows(share, tf.ones([1, g.kh, 1, g.kw, 1]), g), g);
  let sum: tf.Tensor4D | undefined;
  for (let i = 0; i < g.kh; i++) {
    for (let j = 0; j < g.kw; j++) {
      const part = place(share, g, i, j);
      sum = sum ? (tf.add(sum, part) as tf.Tensor4D) : part;
    }
  }
  return crop(sum!, g);
}

// ---------------------------------------------------------------------------------------------------------------

function zeroGradient(kernelName: string, inputs: string[]): tf.GradConfig {
  return {
    kernelName,
    inputsToSave: inputs,
    // tf.fill runs a kernel; tf.zeros would build the zeros as a host array and upload it.
    gradFunc: (_dy, saved) => Object.fromEntries(inputs.map((name, i) => [name, () => tf.fill(saved[i]!.shape, 0, 'float32')])),
  };
}

const single = (dy: tf.Tensor | tf.Tensor[]): tf.Tensor => (Array.isArray(dy) ? dy[0]! : dy);

function assertUnitDilation(dilations: unknown, op: string): void {
  const [dh, dw] = pair((dilations ?? 1) as number | [number, number]);
  if (dh !== 1 || dw !== 1) throw new SecondOrderUnsupportedError(`${op} with dilation ${dh}x${dw}`);
}

function fixedGradients(matMulFallback: tf.GradConfig | undefined): tf.GradConfig[] {
  return [
    {
      // tfjs' formula (dy broadcast over the summed axes) with the ones made by a kernel: tfjs' tf.ones builds them
      // as a host array, uploaded anew for every product (and so fresh host memory, page faults included).
      kernelName: 'Sum',
      inputsToSave: ['x'],
      gradFunc: (dy, [x], attrs) => ({
        x: () => {
          const axes = tf.util.parseAxisParam(attrs.axis as number | number[], x!.shape);
          const expanded = x!.shape.map((size, axis) => (axes.includes(axis) ? 1 : size));
          return tf.mul(tf.reshape(single(dy), expanded), tf.fill(x!.shape, 1, 'float32'));
        },
      }),
    },
    {
      // tfjs' formula; a bias broadcast over the last axis sums dy by 1ᵀ·dy (columnSums: wasm's reduction over the
      // leading axes is strided, 1.6 ms over [512, 5, 5, 32]).
      kernelName: 'Add',
      inputsToSave: ['a', 'b'],
      gradFunc: (dy, [a, b]) => {
        const d = single(dy);
        const reduced = (input: tf.Tensor) => () => {
          const axes = tf.backend_util.getReductionAxes(input.shape, d.shape);
          if (!axes.length) return tf.reshape(d, input.shape);
          const overLeading = d.rank >= 2 && axes.length === d.rank - 1 && !axes.includes(d.rank - 1);
          return tf.reshape(overLeading ? columnSums(d) : tf.sum(d, axes), input.shape);
        };
        return { a: reduced(a!), b: reduced(b!) };
      },
    },
    {
      // tfjs' formula, dy·step(x), with the mask computed once per retained tape (`fromSaved`), not per product.
      kernelName: 'Relu',
      inputsToSave: ['x'],
      gradFunc: (dy, [x]) => ({
        x: () =>
          tf.mul(
            single(dy),
            fromSaved(`relu mask of ${x!.id}`, () => tf.step(x!)),
          ),
      }),
    },
    // The derivatives below are functions of the saved input alone: once per retained tape (`fromSaved`). Under an
    // outer gradient they are recorded like any op, so they are differentiated again exactly.
    {
      kernelName: 'Exp',
      inputsToSave: ['x'],
      gradFunc: (dy, [x]) => ({
        x: () =>
          tf.mul(
            single(dy),
            fromSaved(`exp of ${x!.id}`, () => tf.exp(x!)),
          ),
      }),
    },
    {
      kernelName: 'Tanh',
      inputsToSave: ['x'],
      gradFunc: (dy, [x]) => ({
        x: () =>
          tf.mul(
            single(dy),
            fromSaved(`tanh' of ${x!.id}`, () => tf.sub(1, tf.square(tf.tanh(x!)))),
          ),
      }),
    },
    {
      kernelName: 'Sigmoid',
      inputsToSave: ['x'],
      gradFunc: (dy, [x]) => ({
        x: () =>
          tf.mul(
            single(dy),
            fromSaved(`sigmoid' of ${x!.id}`, () => {
              const s = tf.sigmoid(x!);
              return tf.mul(s, tf.sub(1, s));
            }),
          ),
      }),
    },
    {
      kernelName: 'Softmax',
      inputsToSave: ['logits'],
      gradFunc: (dy, [logits], attrs) => ({
        logits: () => {
          const dim = attrs.dim as number;
          const y = tf.softmax(logits!, dim);
          const dyTimesY = tf.mul(single(dy), y);
          return tf.sub(dyTimesY, tf.mul(tf.sum(dyTimesY, [dim], true), y));
        },
      }),
    },
    {
      kernelName: 'LogSoftmax',
      inputsToSave: ['logits'],
      gradFunc: (dy, [logits], attrs) => ({
        logits: () => {
          const axis = attrs.axis as number;
          return tf.sub(single(dy), tf.mul(tf.sum(single(dy), axis, true), tf.softmax(logits!, axis)));
        },
      }),
    },
    {
      kernelName: 'Elu',
      inputsToSave: ['x'],
      gradFunc: (dy, [x]) => ({ x: () => tf.where(tf.greater(x!, 0), single(dy), tf.mul(single(dy), tf.exp(x!))) }),
    },
    {
      kernelName: 'Pow',
      inputsToSave: ['a', 'b'],
      gradFunc: (dy, [a, b]) => {
        const reduceTo = (t: tf.Tensor, shape: number[]): tf.Tensor => {
          const extra = t.rank - shape.length;
          const axes: number[] = [];
          for (let k = 0; k < t.rank; k++) if (k < extra || (shape[k - extra] === 1 && t.shape[k] !== 1)) axes.push(k);
          return tf.reshape(axes.length ? tf.sum(t, axes) : t, shape);
        };
        return {
          a: () => {
            const exponent = tf.cast(b!, 'float32');
            return reduceTo(tf.mul(single(dy), tf.mul(exponent, tf.pow(a!, tf.sub(exponent, 1)))), a!.shape);
          },
          b: () => {
            const logBase = tf.where(tf.greater(a!, 0), tf.log(a!), tf.zerosLike(a!));
            return reduceTo(tf.mul(single(dy), tf.mul(tf.pow(a!, b!), logBase)), b!.shape);
          },
        };
      },
    },
    {
      kernelName: 'Conv2D',
      inputsToSave: ['x', 'filter'],
      gradFunc: (dy, [x, filter], attrs) => {
        assertUnitDilation(attrs.dilations, 'Conv2D');
        if (attrs.dataFormat !== undefined && attrs.dataFormat !== 'NHWC')
          throw new SecondOrderUnsupportedError(`Conv2D with dataFormat ${String(attrs.dataFormat)}`);
        const strides = pair(attrs.strides as number | [number, number]);
        const pad = attrs.pad as Pad;
        return {
          x: () => convInputGradient(single(dy), filter!, x!.shape, strides, pad),
          filter: () => convFilterGradient(x!, single(dy), filter!.shape, strides, pad),
        };
      },
    },
    {
      kernelName: 'Conv2DBackpropInput',
      inputsToSave: ['dy', 'filter'],
      gradFunc: (ddx, [dy, filter], attrs) => {
        const strides = pair(attrs.strides as number | [number, number]);
        const pad = attrs.pad as Pad;
        return {
          dy: () => tf.conv2d(single(ddx) as tf.Tensor4D, filter as tf.Tensor4D, strides, pad),
          filter: () => convFilterGradient(single(ddx), dy!, filter!.shape, strides, pad),
        };
      },
    },
    {
      kernelName: 'Conv2DBackpropFilter',
      inputsToSave: ['x', 'dy'],
      gradFunc: (ddw, [x, dy], attrs) => {
        const strides = pair(attrs.strides as number | [number, number]);
        const pad = attrs.pad as Pad;
        return {
          x: () => convInputGradient(dy!, single(ddw), x!.shape, strides, pad),
          dy: () => tf.conv2d(x as tf.Tensor4D, single(ddw) as tf.Tensor4D, strides, pad),
        };
      },
    },
    spreadGradient,
    {
      kernelName: 'MaxPool',
      inputsToSave: ['x'],
      gradFunc: (dy, [x], attrs) => ({
        x: () => maxPoolGradient(x as tf.Tensor4D, single(dy), pair(attrs.filterSize as number), pair(attrs.strides as number), attrs.pad as Pad),
      }),
    },
    {
      kernelName: 'AvgPool',
      inputsToSave: ['x'],
      gradFunc: (dy, [x], attrs) => ({
        x: () => avgPoolGradient(x as tf.Tensor4D, single(dy), pair(attrs.filterSize as number), pair(attrs.strides as number), attrs.pad as Pad),
      }),
    },
    {
      // Same formulas as tfjs, each product in the backend's fastest form (matMul2d): a Hessian-vector product
      // is mostly matMuls, and on wasm's own kernels the transposed forms are 10-30x slower.
      kernelName: 'BatchMatMul',
      inputsToSave: ['a', 'b'],
      gradFunc: (dy, saved, attrs) => {
        const [a, b] = saved as [tf.Tensor, tf.Tensor];
        if (a.rank !== 2 || b.rank !== 2) {
          if (!matMulFallback) throw new Error('BatchMatMul gradient for rank > 2 is not registered');
          return matMulFallback.gradFunc(dy, saved, attrs);
        }
        const d = single(dy) as tf.Tensor2D;
        const mm = (x: tf.Tensor, tx: boolean, y: tf.Tensor, ty: boolean): tf.Tensor2D => matMul2d(x as tf.Tensor2D, tx, y as tf.Tensor2D, ty);
        const ta = attrs.transposeA === true;
        const tb = attrs.transposeB === true;
        if (!ta && !tb) return { a: () => mm(d, false, b, true), b: () => mm(a, true, d, false) };
        if (!ta && tb) return { a: () => mm(d, false, b, false), b: () => mm(d, true, a, false) };
        if (ta && !tb) return { a: () => mm(b, false, d, true), b: () => mm(a, false, d, false) };
        return { a: () => mm(b, true, d, true), b: () => mm(d, true, a, true) };
      },
    },
    ...[...ZERO_GRADIENT_KERNELS].map((name) => zeroGradient(name, BINARY_ZERO_GRADIENT.has(name) ? ['a', 'b'] : ['x'])),
  ];
}

const BINARY_ZERO_GRADIENT = new Set(['Equal', 'NotEqual', 'Greater', 'GreaterEqual', 'Less', 'LessEqual', 'LogicalAnd', 'LogicalOr']);

/**
 * Kernels whose output is piecewise constant in their inputs (comparisons, rounding, the max-pool mask, the
 * log-softmax shift): their gradient is zero, so nothing downstream of them depends on the weights
 * (retained-gradient.ts skips what flows only through them).
 */
export const ZERO_GRADIENT_KERNELS: ReadonlySet<string> = new Set([
  ...BINARY_ZERO_GRADIENT,
  FIRST_MAXIMA,
  INVARIANT_SHIFT,
  ...['LogicalNot', 'IsNan', 'IsInf', 'IsFinite', 'Sign', 'Round', 'Floor', 'Ceil', 'Step'],
]);

function guard(op: string, gradient: tf.Tensor, references: readonly tf.Tensor[]): tf.Tensor {
  const inputs: tf.NamedTensorMap = { x: gradient };
  references.forEach((tensor, i) => (inputs[`ref${i}`] = tensor));
  return tf.engine().runKernel(GUARD, inputs, { op }) as tf.Tensor;
}

/** Wraps a gradient so that differentiating its result again throws instead of silently dropping terms. */
function guarded(config: tf.GradConfig): tf.GradConfig {
  return {
    ...config,
    gradFunc: (dy, saved, attrs) => {
      const grads = config.gradFunc(dy, saved, attrs);
      const references = [...(Array.isArray(dy) ? dy : [dy]), ...saved].filter((t): t is tf.Tensor => t != null);
      return Object.fromEntries(Object.entries(grads).map(([name, grad]) => [name, () => guard(config.kernelName, grad(), references)]));
    },
  };
}

/** The guard, the first-maxima mask and (where the backend lacks it) Conv2DBackpropFilter, on every backend. */
function registerKernels(): void {
  for (const backendName of tf.engine().backendNames()) {
    const identity = tf.getKernel('Identity', backendName);
    if (!identity) continue;
    if (!tf.getKernel(GUARD, backendName)) {
      tf.registerKernel({
        kernelName: GUARD,
        backendName,
        kernelFunc: ({ inputs, backend }) => identity.kernelFunc({ inputs: { x: inputs.x! }, backend, attrs: {} }),
      });
    }
    if (!tf.getKernel(FIRST_MAXIMA, backendName)) tf.registerKernel(firstMaximaKernel(backendName));
    if (!tf.getKernel(SPREAD, backendName)) tf.registerKernel(spreadKernel(backendName));
    if (!tf.getKernel(INVARIANT_SHIFT, backendName)) {
      tf.registerKernel({
        kernelName: INVARIANT_SHIFT,
        backendName,
        kernelFunc: ({ inputs, backend }) =>
          composite(backendName, backend as tf.KernelBackend, (run) =>
            run('Max', { x: inputs.x! }, { reductionIndices: [inputs.x!.shape.length - 1], keepDims: true }),
          ),
      });
    }
    if (!tf.getKernel('Conv2DBackpropFilter', backendName)) tf.registerKernel(conv2dBackpropFilterKernel(backendName));
  }
}

interface EngineInternals {
  state: { activeScope?: { name: string } };
  customGrad: ReturnType<typeof tf.engine>['customGrad'];
}

/**
 * customGrad ops (logSoftmax, logSigmoid, the tf.losses helpers) save tensors the same cut-off way and cannot be
 * re-registered: every gradient they produce is guarded so a second derivative through them throws.
 */
function guardCustomGradients(engine: EngineInternals): void {
  const original = engine.customGrad.bind(engine);
  engine.customGrad = (<T extends tf.Tensor>(f: (...args: unknown[]) => { value: T; gradFunc: (dy: T, saved: tf.Tensor[]) => tf.Tensor | tf.Tensor[] }) => {
    let op = 'customGrad';
    const run = original((...args: (tf.Tensor | tf.GradSaveFunc)[]) => {
      const result = f(...args);
      const inputs = args.filter((arg): arg is tf.Tensor => arg instanceof tf.Tensor);
      const name = op;
      return {
        value: result.value,
        gradFunc: (dy: T, saved: tf.Tensor[]) => {
          const grads = result.gradFunc(dy, saved);
          const list = Array.isArray(grads) ? grads : [grads];
          const out = list.map((g) => guard(name, g, [dy, ...inputs]));
          return Array.isArray(grads) ? out : out[0]!;
        },
      };
    });
    return (...inputs: tf.Tensor[]) => {
      // The calling op's scope (e.g. "logSoftmax__op") names the op in the error.
      op = (engine.state.activeScope?.name ?? 'customGrad').replace(/__op$/, '');
      return run(...inputs);
    };
  }) as ReturnType<typeof tf.engine>['customGrad'];
}

let installed = false;
let deferred = false;

/**
 * installSecondOrderGradients, run by the first gradient any code takes in this process (every tfjs gradient API
 * goes through the engine's `gradients`), before that gradient's forward pass records anything; afterwards, the
 * kernels for a newly registered backend. A process that never differentiates never loads them.
 */
export function installSecondOrderGradientsOnFirstUse(): void {
  if (installed) return installSecondOrderGradients();
  if (deferred) return;
  deferred = true;
  const engine = tf.engine() as unknown as { gradients: (...args: unknown[]) => unknown };
  engine.gradients = (...args: unknown[]) => {
    delete (engine as Partial<typeof engine>).gradients; // the prototype's own method again
    installSecondOrderGradients();
    return engine.gradients(...args);
  };
}

/**
 * max(x) over the last axis (kept), as a constant of differentiation: for a function f(x − c) + c·… that does not
 * depend on the shift c at all, like a max-shifted log-softmax, its gradient through c cancels exactly, so
 * differentiating it (Max's gradient mask, twice in a Hessian-vector product) is work for zero.
 */
export function invariantShift(x: tf.Tensor): tf.Tensor {
  if (!tf.getKernel(INVARIANT_SHIFT, tf.getBackend())) registerKernels();
  return tf.engine().runKernel(INVARIANT_SHIFT, { x }, {}) as tf.Tensor;
}

/**
 * Installs the second-order-safe gradients (once per process) and the kernels they use on every backend registered
 * so far (call again after registering a backend; the HVP code calls it before each use).
 */
export function installSecondOrderGradients(): void {
  if (!installed) {
    // tfjs-core's node bundle registers no gradients; tfjs-layers' bundle registers the standard set on load
    // (on first use: a forward-only job never needs its ~40 ms of start-up).
    require('@tensorflow/tfjs-layers');
  }
  registerKernels();
  if (installed) return;
  installed = true;
  const fixed = fixedGradients(tf.getGradient('BatchMatMul'));
  const fixedNames = new Set(fixed.map((config) => config.kernelName));
  const registry = (globalThis as { _tfGlobals?: Map<string, unknown> })._tfGlobals?.get('gradRegistry') as Map<string, tf.GradConfig> | undefined;
  for (const config of registry?.values() ?? []) {
    if (fixedNames.has(config.kernelName) || SAFE_OUTPUT_SAVERS.has(config.kernelName)) continue;
    if (config.outputsToSave?.some(Boolean) || WRONG_SECOND_ORDER.has(config.kernelName)) tf.registerGradient(guarded(config));
  }
  for (const config of fixed) tf.registerGradient(config);
  tf.registerGradient({
    kernelName: GUARD,
    gradFunc: (_dy, _saved, attrs) => {
      throw new SecondOrderUnsupportedError(String(attrs.op));
    },
  });
  guardCustomGradients(tf.engine() as unknown as EngineInternals);
}
