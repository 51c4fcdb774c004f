import * as tf from '@tensorflow/tfjs-core';

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

/** The transpose of `extract`: scatters [n, outH, outW, c] back to window element (i, j) of the padded input. */
function place(t: tf.Tensor, g: Window, i: number, j: number): tf.Tensor4D {
  const { n, c, outH, outW, sh, sw } = g;
  let spread = t as tf.Tensor4D;
  if (sh !== 1 || sw !== 1) {
    const block = tf.pad(tf.reshape(t, [n * outH, 1, outW, c]), [
      [0, 0],
      [0, sh - 1],
      [0, 0],
      [0, (sw - 1) * c],
    ]);
    spread = tf.reshape(block, [n, outH * sh, outW * sw, c]);
  }
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

/** dL/dW of a conv2d as patches(x)ᵀ · dy: one plain matMul, differentiable in both x and dy. */
export function convFilterGradient(
  x: tf.Tensor,
  dy: tf.Tensor,
  filterShape: number[],
  strides: [number, number],
  pad: Pad,
  dilations: [number, number] = [1, 1],
): tf.Tensor {
  const [kh, kw, inC, outC] = filterShape as [number, number, number, number];
  const g = windowOf(x.shape, [kh, kw], strides, dilations, pad);
  const xp = padInput(x, g);
  const columns: tf.Tensor4D[] = [];
  for (let i = 0; i < kh; i++) for (let j = 0; j < kw; j++) columns.push(extract(xp, g, i, j));
  // Channel order (i, j, c) matches the row-major [kh, kw, in, out] kernel layout.
  const patches = tf.reshape(columns.length === 1 ? columns[0]! : tf.concat(columns, 3), [g.n * g.outH * g.outW, kh * kw * inC]);
  const rows = tf.reshape(dy, [g.n * g.outH * g.outW, outC]);
  return tf.reshape(tf.matMul(tf.transpose(patches), rows), filterShape);
}

function maxPoolGradient(x: tf.Tensor4D, dy: tf.Tensor, filter: [number, number], strides: [number, number], pad: Pad): tf.Tensor {
  const g = windowOf(x.shape, filter, strides, [1, 1], pad);
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
    gradFunc: (_dy, saved) => Object.fromEntries(inputs.map((name, i) => [name, () => tf.zeros(saved[i]!.shape, 'float32')])),
  };
}

const single = (dy: tf.Tensor | tf.Tensor[]): tf.Tensor => (Array.isArray(dy) ? dy[0]! : dy);

function assertUnitDilation(dilations: unknown, op: string): void {
  const [dh, dw] = pair((dilations ?? 1) as number | [number, number]);
  if (dh !== 1 || dw !== 1) throw new SecondOrderUnsupportedError(`${op} with dilation ${dh}x${dw}`);
}

function fixedGradients(matMulFallback: tf.GradConfig | undefined): tf.GradConfig[] {
  return [
    { kernelName: 'Exp', inputsToSave: ['x'], gradFunc: (dy, [x]) => ({ x: () => tf.mul(single(dy), tf.exp(x!)) }) },
    {
      kernelName: 'Tanh',
      inputsToSave: ['x'],
      gradFunc: (dy, [x]) => ({ x: () => tf.mul(single(dy), tf.sub(1, tf.square(tf.tanh(x!)))) }),
    },
    {
      kernelName: 'Sigmoid',
      inputsToSave: ['x'],
      gradFunc: (dy, [x]) => ({
        x: () => {
          const s = tf.sigmoid(x!);
          return tf.mul(single(dy), tf.mul(s, tf.sub(1, s)));
        },
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
          x: () => tf.conv2dTranspose(single(dy) as tf.Tensor4D, filter as tf.Tensor4D, x!.shape as [number, number, number, number], strides, pad),
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
          x: () => tf.conv2dTranspose(dy as tf.Tensor4D, single(ddw) as tf.Tensor4D, x!.shape as [number, number, number, number], strides, pad),
          dy: () => tf.conv2d(x as tf.Tensor4D, single(ddw) as tf.Tensor4D, strides, pad),
        };
      },
    },
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
      // Same formulas as tfjs, with the transposes written out: on wasm a transposed matMul is 10-30x slower
      // than transpose + plain matMul (tfjs-on-node.md), and a Hessian-vector product is mostly matMuls.
      kernelName: 'BatchMatMul',
      inputsToSave: ['a', 'b'],
      gradFunc: (dy, saved, attrs) => {
        const [a, b] = saved as [tf.Tensor, tf.Tensor];
        if (a.rank !== 2 || b.rank !== 2) {
          if (!matMulFallback) throw new Error('BatchMatMul gradient for rank > 2 is not registered');
          return matMulFallback.gradFunc(dy, saved, attrs);
        }
        const d = single(dy) as tf.Tensor2D;
        const t = (m: tf.Tensor, transposed: boolean): tf.Tensor2D => (transposed ? tf.transpose(m as tf.Tensor2D) : (m as tf.Tensor2D));
        const mm = (x: tf.Tensor, tx: boolean, y: tf.Tensor, ty: boolean): tf.Tensor2D => tf.matMul(t(x, tx), t(y, ty));
        const ta = attrs.transposeA === true;
        const tb = attrs.transposeB === true;
        if (!ta && !tb) return { a: () => mm(d, false, b, true), b: () => mm(a, true, d, false) };
        if (!ta && tb) return { a: () => mm(d, false, b, false), b: () => mm(d, true, a, false) };
        if (ta && !tb) return { a: () => mm(b, false, d, true), b: () => mm(a, false, d, false) };
        return { a: () => mm(b, true, d, true), b: () => mm(d, true, a, true) };
      },
    },
    ...['Equal', 'NotEqual', 'Greater', 'GreaterEqual', 'Less', 'LessEqual', 'LogicalAnd', 'LogicalOr'].map((name) => zeroGradient(name, ['a', 'b'])),
    ...['LogicalNot', 'IsNan', 'IsInf', 'IsFinite', 'Sign', 'Round', 'Floor', 'Ceil'].map((name) => zeroGradient(name, ['x'])),
  ];
}

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

function registerGuardKernels(): void {
  for (const backendName of tf.engine().backendNames()) {
    if (tf.getKernel(GUARD, backendName)) continue;
    const identity = tf.getKernel('Identity', backendName);
    if (!identity) continue;
    tf.registerKernel({
      kernelName: GUARD,
      backendName,
      kernelFunc: ({ inputs, backend }) => identity.kernelFunc({ inputs: { x: inputs.x! }, backend, attrs: {} }),
    });
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

/**
 * Installs the second-order-safe gradients (once per process) and the guard kernel on every backend registered
 * so far (call again after registering a backend; the HVP code calls it before each use).
 */
export function installSecondOrderGradients(): void {
  if (!installed) {
    // tfjs-core's node bundle registers no gradients; tfjs-layers' bundle registers the standard set (once).
    require('@tensorflow/tfjs-layers');
  }
  registerGuardKernels();
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
