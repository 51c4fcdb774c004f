import * as tf from '@tensorflow/tfjs-core';
import { beforeAll, describe, expect, it } from 'vitest';
import { selectBackend } from '../backend';
import { createRng } from '../random';
import { convFilterGradient, installSecondOrderGradients, SecondOrderUnsupportedError } from './second-order';

beforeAll(async () => {
  await selectBackend('cpu');
  installSecondOrderGradients();
});

const values = (t: tf.Tensor): number[] => {
  const out = Array.from(t.dataSync());
  t.dispose();
  return out;
};

function random(shape: number[], seed: number, scale = 1): tf.Tensor {
  const rng = createRng(seed);
  return tf.tensor(
    Float32Array.from({ length: shape.reduce((a, b) => a * b, 1) }, () => scale * rng.normal()),
    shape,
  );
}

/** H·v of f at x by double backprop. */
function hvp(f: (x: tf.Tensor) => tf.Tensor, x: tf.Tensor, v: tf.Tensor): tf.Tensor {
  return tf.tidy(() => tf.grad((y: tf.Tensor) => tf.sum(tf.mul(tf.grad(f)(y), v)))(x));
}

function expectClose(actual: number[], expected: number[], tolerance: number): void {
  expect(actual.length).toBe(expected.length);
  const scale = Math.max(...expected.map(Math.abs), 1e-12);
  actual.forEach((a, i) => expect(Math.abs(a - expected[i]!) / scale, `entry ${i}: ${a} vs ${expected[i]}`).toBeLessThan(tolerance));
}

describe.each(['cpu', 'wasm'] as const)('second derivatives on %s', (backend) => {
  beforeAll(async () => {
    await selectBackend(backend);
    installSecondOrderGradients();
  });

  const xs = [-2.1, -0.7, -0.05, 0.3, 1.2, 2.5];
  // Elementwise f(x) = Σ op(x): the Hessian is diagonal with the op's second derivative.
  const cases: [string, (x: tf.Tensor) => tf.Tensor, (x: number) => number][] = [
    ['exp', tf.exp, Math.exp],
    ['tanh', tf.tanh, (x) => -2 * Math.tanh(x) * (1 - Math.tanh(x) ** 2)],
    [
      'sigmoid',
      tf.sigmoid,
      (x) => {
        const s = 1 / (1 + Math.exp(-x));
        return s * (1 - s) * (1 - 2 * s);
      },
    ],
    ['softplus', tf.softplus, (x) => Math.exp(-x) / (1 + Math.exp(-x)) ** 2],
    ['elu', tf.elu, (x) => (x > 0 ? 0 : Math.exp(x))],
    ['selu', tf.selu, (x) => (x > 0 ? 0 : 1.0507009873554805 * 1.6732632423543772 * Math.exp(x))],
    [
      'swish',
      (x) => tf.mul(x, tf.sigmoid(x)),
      (x) => {
        const s = 1 / (1 + Math.exp(-x));
        return 2 * s * (1 - s) + x * s * (1 - s) * (1 - 2 * s);
      },
    ],
    ['pow(x, 3)', (x) => tf.pow(x, 3), (x) => 6 * x],
    ['pow(2, x)', (x) => tf.pow(tf.scalar(2), x), (x) => Math.LN2 ** 2 * 2 ** x],
  ];
  it.each(cases)('%s', (_name, op, second) => {
    const x = tf.tensor1d(xs);
    const ones = tf.onesLike(x);
    const actual = values(hvp((y) => tf.sum(op(y)), x, ones));
    expectClose(actual, xs.map(second), 2e-6);
    tf.dispose([x, ones]);
  });

  it('softmax and max-shifted log-sum-exp (the cross-entropy path)', () => {
    const z = [0.3, -1.2, 2.0, 0.1];
    const c = [0.5, -1, 2, 0.25];
    const v = [1, -0.5, 0.25, 2];
    // f(z) = Σ c ⊙ softmax(z): Hv = diag(s)(I − 1sᵀ)... written out in float64.
    const e = z.map(Math.exp);
    const sum = e.reduce((a, b) => a + b, 0);
    const s = e.map((x) => x / sum);
    const grad = (w: number[]) => {
      const ew = w.map(Math.exp);
      const sw = ew.map((x) => x / ew.reduce((a, b) => a + b, 0));
      const sc = sw.reduce((a, si, i) => a + si * c[i]!, 0);
      return sw.map((si, i) => si * (c[i]! - sc));
    };
    const h = 1e-6;
    const fd = z.map((_, i) => {
      const plus = grad(z.map((zi, k) => zi + h * v[k]!));
      const minus = grad(z.map((zi, k) => zi - h * v[k]!));
      return (plus[i]! - minus[i]!) / (2 * h);
    });
    void s;
    const zt = tf.tensor1d(z);
    const ct = tf.tensor1d(c);
    const vt = tf.tensor1d(v);
    expectClose(values(hvp((y) => tf.sum(tf.mul(ct, tf.softmax(y))), zt, vt)), fd, 1e-5);
    // log-sum-exp as losses.ts writes it: Hessian = diag(s) − s sᵀ.
    const lse = (y: tf.Tensor) => {
      const m = tf.max(y, -1, true);
      return tf.sum(tf.add(tf.log(tf.sum(tf.exp(tf.sub(y, m)), -1, true)), m));
    };
    const sv = s.reduce((a, si, i) => a + si * v[i]!, 0);
    expectClose(
      values(hvp(lse, zt, vt)),
      s.map((si, i) => si * v[i]! - si * sv),
      1e-5,
    );
    tf.dispose([zt, ct, vt]);
  });

  it('sums: the gradient broadcasts dy over the summed axes, second derivatives through it, and no host upload', () => {
    // f(x) = Σ_j (Σ_i x_ij)² over axis 0 (and the same over axis 1, kept): ∂f/∂x_ij = 2·colsum_j, H·v = 2·colsum(v)_j.
    const x = random([3, 4], 21);
    const v = random([3, 4], 22);
    const columnSums = (t: tf.Tensor): number[] => values(tf.sum(t, 0));
    const sx = columnSums(x.clone());
    const sv = columnSums(v.clone());
    const f = (y: tf.Tensor) => tf.sum(tf.square(tf.sum(y, 0)));
    expectClose(
      values(tf.grad(f)(x)),
      [0, 1, 2].flatMap(() => sx.map((s) => 2 * s)),
      1e-6,
    );
    expectClose(
      values(hvp(f, x, v)),
      [0, 1, 2].flatMap(() => sv.map((s) => 2 * s)),
      1e-6,
    );
    const rows = (y: tf.Tensor) => tf.sum(tf.square(tf.sum(y, -1, true)));
    const rowSums = values(tf.sum(v, 1));
    expectClose(
      values(hvp(rows, x, v)),
      rowSums.flatMap((s) => [2 * s, 2 * s, 2 * s, 2 * s]),
      1e-6,
    );
    tf.dispose([x, v]);
    // On wasm the ones come from a kernel: a large sum's gradient uploads nothing from the host (tf.ones would).
    // (On cpu every kernel's output is a host array.)
    if (backend !== 'wasm') return;
    const big = tf.zeros([512, 256]);
    const wasm = tf.backend() as unknown as { write: (...args: unknown[]) => unknown };
    const write = wasm.write;
    let uploaded = 0;
    wasm.write = function (this: unknown, ...args: unknown[]) {
      uploaded = Math.max(uploaded, (args[0] as ArrayLike<number> | null)?.length ?? 0);
      return write.apply(this, args);
    };
    try {
      tf.dispose(tf.grad((y: tf.Tensor) => tf.sum(y))(big));
    } finally {
      wasm.write = write;
    }
    expect(uploaded).toBeLessThan(1000);
    big.dispose();
  });

  it('throws, naming the op, where a second derivative is not supported', () => {
    const x = tf.tensor1d([0.3, -0.2, 0.9]);
    const ones = tf.onesLike(x);
    // tf.logSoftmax is a customGrad op; LRN's gradient reuses its saved output.
    expect(() => hvp((y) => tf.sum(tf.logSoftmax(y)), x, ones)).toThrow(/second derivative through 'logSoftmax' is not supported/);
    const lrn = (y: tf.Tensor) => tf.sum(tf.localResponseNormalization(tf.reshape(y, [1, 1, 1, 3]) as tf.Tensor4D));
    expect(() => hvp(lrn, x, ones)).toThrow(/second derivative through 'LRN' is not supported/);
    // Unpack saves nothing, but its double backprop was found silently wrong.
    const unstacked = (y: tf.Tensor) => tf.addN(tf.unstack(tf.reshape(y, [3, 1])).map((row) => tf.sum(tf.square(row))));
    expect(() => hvp(unstacked, x, ones)).toThrow(SecondOrderUnsupportedError);
    expect(() => hvp(unstacked, x, ones)).toThrow(/second derivative through 'Unpack' is not supported/);
    // First derivatives through the same ops still work.
    expect(values(tf.grad((y: tf.Tensor) => tf.sum(tf.logSoftmax(y)))(x)).every(Number.isFinite)).toBe(true);
    expect(values(tf.grad(lrn)(x)).every(Number.isFinite)).toBe(true);
    tf.dispose([x, ones]);
  });
});

describe('convolution and pooling gradients (conv2d-based kernels, no MaxPoolGrad/AvgPoolGrad kernels)', () => {
  const configs = [
    { strides: [1, 1] as [number, number], pad: 'valid' as const },
    { strides: [2, 2] as [number, number], pad: 'same' as const },
    { strides: [2, 1] as [number, number], pad: 'valid' as const },
    { strides: [1, 2] as [number, number], pad: 'same' as const },
    // Stride 1: the filter gradient runs as shifted-row products on OpenBLAS (blas.ts) over the padded grid.
    { strides: [1, 1] as [number, number], pad: 'same' as const },
    {
      strides: [1, 1] as [number, number],
      pad: [
        [0, 0],
        [2, 1],
        [0, 3],
        [0, 0],
      ] as tf.conv_util.ExplicitPadding,
    },
  ];

  // References: the cpu backend's own Conv2DBackpropFilter / Conv2DBackpropInput kernels.
  it.each(configs)('conv weight and input gradients equal the cpu kernels on cpu and wasm ($strides, $pad)', async ({ strides, pad }) => {
    await selectBackend('cpu');
    const xData = random([2, 7, 6, 3], 1);
    const filterShape = [3, 2, 3, 4];
    const filterData = random(filterShape, 2);
    const y = tf.conv2d(xData as tf.Tensor4D, filterData as tf.Tensor4D, strides, pad);
    const dyData = random(y.shape, 3);
    const attrs = { strides, pad, dataFormat: 'NHWC', dimRoundingMode: undefined };
    const filterReference = values(tf.engine().runKernel('Conv2DBackpropFilter', { x: xData, dy: dyData }, { ...attrs, filterShape }) as tf.Tensor);
    const inputReference = values(
      tf.engine().runKernel('Conv2DBackpropInput', { dy: dyData, filter: filterData }, { ...attrs, inputShape: xData.shape }) as tf.Tensor,
    );
    const [xs, filters, dys] = [xData, filterData, dyData].map((t) => t.dataSync());
    for (const backend of ['cpu', 'wasm'] as const) {
      await selectBackend(backend);
      const x = tf.tensor(xs!, xData.shape);
      const filter = tf.tensor(filters!, filterShape);
      const dy = tf.tensor(dys!, y.shape);
      expectClose(values(convFilterGradient(x, dy, filterShape, strides, pad)), filterReference, 1e-5);
      const viaGrad = values(tf.grad((t: tf.Tensor) => tf.sum(tf.mul(tf.conv2d(t as tf.Tensor4D, filter as tf.Tensor4D, strides, pad), dy)))(x));
      expectClose(viaGrad, inputReference, 1e-5);
      tf.dispose([x, filter, dy]);
    }
  });

  const pools = [
    { filter: [2, 2] as [number, number], strides: [2, 2] as [number, number], pad: 'valid' as const },
    { filter: [3, 3] as [number, number], strides: [2, 2] as [number, number], pad: 'same' as const },
    { filter: [3, 2] as [number, number], strides: [1, 1] as [number, number], pad: 'valid' as const },
    // Windows that tile the input (stride = window), with a padded column ('same') and uncovered rows ('valid').
    { filter: [2, 2] as [number, number], strides: [2, 2] as [number, number], pad: 'same' as const },
    { filter: [4, 3] as [number, number], strides: [4, 3] as [number, number], pad: 'valid' as const },
  ];

  it.each(pools)('max/avg pool gradients equal the cpu kernels on cpu and wasm ($filter, $strides, $pad)', async ({ filter, strides, pad }) => {
    await selectBackend('cpu');
    const xData = random([2, 6, 7, 2], 4);
    const y = tf.maxPool(xData as tf.Tensor4D, filter, strides, pad);
    const dyData = random(y.shape, 5);
    const attrs = { filterSize: filter, strides, pad };
    const maxReference = values(tf.engine().runKernel('MaxPoolGrad', { dy: dyData, input: xData, output: y }, attrs) as tf.Tensor);
    const xs = xData.dataSync();
    const dys = dyData.dataSync();
    // tfjs' AvgPoolGrad kernel divides by the full window even where 'same' padding cuts it, unlike its own
    // forward pass; the reference is the exact adjoint of the forward pass, probed one input element at a time.
    const avgReference = Array.from(xs, (_, i) =>
      tf.tidy(() => {
        const e = tf.buffer(xData.shape);
        e.values[i] = 1;
        return tf.sum(tf.mul(tf.avgPool(e.toTensor() as tf.Tensor4D, filter, strides, pad), dyData)).dataSync()[0]!;
      }),
    );
    for (const backend of ['cpu', 'wasm'] as const) {
      await selectBackend(backend);
      const x = tf.tensor(xs, xData.shape);
      const dy = tf.tensor(dys, y.shape);
      const viaGrad = (pool: (t: tf.Tensor4D) => tf.Tensor) => values(tf.grad((t: tf.Tensor) => tf.sum(tf.mul(pool(t as tf.Tensor4D), dy)))(x));
      expectClose(
        viaGrad((t) => tf.maxPool(t, filter, strides, pad)),
        maxReference,
        1e-6,
      );
      expectClose(
        viaGrad((t) => tf.avgPool(t, filter, strides, pad)),
        avgReference,
        1e-6,
      );
      tf.dispose([x, dy]);
    }
  });

  it.each(['valid', 'same'] as const)('a max-pool gradient goes to the first of equal maxima, as the cpu kernel does (%s)', async (pad) => {
    // Plateaus of relu'd values: most windows hold ties, several are all zero.
    await selectBackend('cpu');
    const xData = tf.relu(tf.round(random([2, 7, 5, 3], 6, 1.5)));
    const y = tf.maxPool(xData as tf.Tensor4D, 2, 2, pad);
    const dyData = random(y.shape, 7);
    const reference = values(
      tf.engine().runKernel('MaxPoolGrad', { dy: dyData, input: xData, output: y }, { filterSize: [2, 2], strides: [2, 2], pad }) as tf.Tensor,
    );
    const [xs, dys] = [xData.dataSync(), dyData.dataSync()];
    await selectBackend('wasm');
    const x = tf.tensor(xs, xData.shape);
    const dy = tf.tensor(dys, y.shape);
    expectClose(values(tf.grad((t: tf.Tensor) => tf.sum(tf.mul(tf.maxPool(t as tf.Tensor4D, 2, 2, pad), dy)))(x)), reference, 1e-6);
    tf.dispose([x, dy]);
  });

  it.each([
    [7, 2, 4, 2, 3],
    [1, 2, 1, 2, 1],
  ])('the window spread kernel has the gradients of the broadcast product it computes (cells %i×%i×%i×%i×%i)', async (...cellShape) => {
    for (const backend of ['cpu', 'wasm'] as const) {
      await selectBackend(backend);
      installSecondOrderGradients();
      const perWindow = random([1, 7, 4, 3], 8);
      const cells = random(cellShape, 9);
      const weights = random([1, 14, 8, 3], 10);
      const spread = (p: tf.Tensor, c: tf.Tensor): tf.Tensor =>
        tf.engine().runKernel('LandscapeSpreadOverWindows', { perWindow: p, cells: c }, { kh: 2, kw: 2 }) as tf.Tensor;
      const plain = (p: tf.Tensor, c: tf.Tensor): tf.Tensor => tf.reshape(tf.mul(c, tf.reshape(p, [7, 1, 4, 1, 3])), [1, 14, 8, 3]);
      const gradients = (f: typeof spread) =>
        tf
          .grads((p: tf.Tensor, c: tf.Tensor) => tf.sum(tf.mul(f(p, c), weights)))([perWindow, cells])
          .map(values);
      const [ours, theirs] = [gradients(spread), gradients(plain)];
      expectClose(values(spread(perWindow, cells)), values(plain(perWindow, cells)), 1e-6);
      expectClose(ours[0]!, theirs[0]!, 1e-6);
      expectClose(ours[1]!, theirs[1]!, 1e-6);
      tf.dispose([perWindow, cells, weights]);
    }
  });

  it('H·v of a conv → max-pool → avg-pool → dense net agrees across backends and with finite differences', async () => {
    const shapes = { k1: [3, 3, 1, 3], k2: [2, 2, 3, 2], dense: [8, 2] };
    const flat = (rng: number) => Object.values(shapes).map((s, i) => random(s, rng + i, 0.6));
    const net = (params: tf.Tensor[], input: tf.Tensor) => {
      const [k1, k2, dense] = params as [tf.Tensor4D, tf.Tensor4D, tf.Tensor2D];
      let h: tf.Tensor4D = tf.tanh(tf.conv2d(input as tf.Tensor4D, k1, 1, 'same'));
      h = tf.maxPool(h, 2, 2, 'valid');
      h = tf.softplus(tf.conv2d(h, k2, [1, 1], 'valid'));
      h = tf.avgPool(h, [2, 2], 1, 'same');
      const logits = tf.matMul(tf.reshape(h, [input.shape[0]!, -1]), dense);
      return tf.sum(tf.log(tf.sum(tf.exp(logits), -1)));
    };
    const results: Record<string, number[]> = {};
    for (const backend of ['cpu', 'wasm'] as const) {
      await selectBackend(backend);
      const input = random([3, 6, 6, 1], 20);
      const params = flat(30);
      const v = flat(40);
      const before = tf.memory().numTensors;
      const hv = tf.tidy(() => {
        const gradDotV = (...ps: tf.Tensor[]) =>
          tf.addN(
            tf
              .grads((...qs: tf.Tensor[]) => net(qs, input))(ps)
              .map((g, i) => tf.sum(tf.mul(g, v[i]!))),
          );
        return tf.concat(
          tf
            .grads(gradDotV)(params)
            .map((g) => tf.reshape(g, [-1])),
        );
      });
      expect(tf.memory().numTensors).toBe(before + 1);
      results[backend] = values(hv);
      // Central differences of the gradient along v (float32; a small step so no max-pool window switches).
      if (backend === 'cpu') {
        const h = 1e-3;
        const gradAt = (sign: number) =>
          values(
            tf.tidy(() =>
              tf.concat(
                tf
                  .grads((...qs: tf.Tensor[]) => net(qs, input))(params.map((p, i) => tf.add(p, tf.mul(v[i]!, sign * h))))
                  .map((g) => tf.reshape(g, [-1])),
              ),
            ),
          );
        const plus = gradAt(1);
        const minus = gradAt(-1);
        results.fd = plus.map((p, i) => (p - minus[i]!) / (2 * h));
      }
      tf.dispose([input, ...params, ...v]);
    }
    expectClose(results.wasm!, results.cpu!, 1e-5);
    expectClose(results.cpu!, results.fd!, 1e-3);
  });
});
