import * as tf from '@tensorflow/tfjs-core';
import {
  _FusedMatMul,
  BatchMatMul,
  getKernel,
  registerKernel,
  unregisterKernel,
  util,
  type _FusedMatMulAttrs,
  type BatchMatMulAttrs,
  type DataType,
  type KernelConfig,
  type KernelFunc,
  type NamedAttrMap,
  type TensorInfo,
} from '@tensorflow/tfjs-core';
import { InputError } from './errors';

/**
 * wasm's matMul kernels on OpenBLAS' sgemm. wasm's XNNPACK runs a plain 2-D product at ~28–44 GFLOP/s on one
 * thread and its transposed forms at 1–4; OpenBLAS (the BLAS PyTorch runs on here) reaches ~95 in every form. The
 * kernels read and write the tensors where they lie in wasm memory: sgemm gets pointers into the wasm heap through
 * koffi's FFI, no copies. Everything else (convolutions, pooling, element-wise ops) stays on wasm.
 *
 * `LANDSCAPE_BLAS` chooses: unset or `auto` loads OpenBLAS from the usual places and falls back to wasm's own
 * kernels (recorded) when it is absent; `off` keeps wasm's kernels; any other value is the library's path, which
 * must load.
 */

interface WasmTensorData {
  memoryOffset: number;
}
interface WasmBackend {
  dataIdMap: { get(dataId: object): WasmTensorData | undefined };
  makeOutput(shape: number[], dtype: DataType): TensorInfo;
  disposeData(dataId: object): void;
  wasm: { HEAPU8: Uint8Array };
}

type Sgemm = (
  order: number,
  transposeA: number,
  transposeB: number,
  m: number,
  n: number,
  k: number,
  alpha: number,
  a: Float32Array,
  lda: number,
  b: Float32Array,
  ldb: number,
  beta: number,
  c: Float32Array,
  ldc: number,
) => void;

const ROW_MAJOR = 101;
const NO_TRANSPOSE = 111;
const TRANSPOSE = 112;

/** Where Debian (libopenblas0-pthread / -openmp / -serial), other Linux distributions and Homebrew put OpenBLAS. */
const OPENBLAS_CANDIDATES = [
  'libopenblas.so.0',
  '/usr/lib/x86_64-linux-gnu/openblas-pthread/libopenblas.so.0',
  '/usr/lib/aarch64-linux-gnu/openblas-pthread/libopenblas.so.0',
  'libopenblas.so',
  '/opt/homebrew/opt/openblas/lib/libopenblas.dylib',
  '/usr/local/opt/openblas/lib/libopenblas.dylib',
];

export interface BlasInfo {
  /** What runs wasm's BatchMatMul and _FusedMatMul: `openblas` or `wasm`. */
  matMul: 'openblas' | 'wasm';
  /** OpenBLAS' build and the core kernel it picked, or why wasm's own kernels run. */
  detail: string;
}

interface Loaded {
  sgemm: Sgemm;
  detail: string;
}

/** Per LANDSCAPE_BLAS setting, OpenBLAS loaded or why it did not load. */
const loads = new Map<string, Loaded | string>();
/** The OpenBLAS the installed kernels call. */
let loaded: Loaded | undefined;
let original: { batchMatMul: KernelConfig; fusedMatMul: KernelConfig } | undefined;

function loadOpenBlas(setting: string): Loaded | string {
  let koffi: typeof import('koffi');
  try {
    koffi = require('koffi') as typeof import('koffi');
  } catch (error) {
    return `koffi did not load: ${(error as Error).message.split('\n')[0]}`;
  }
  const candidates = setting === 'auto' ? OPENBLAS_CANDIDATES : [setting];
  const failures: string[] = [];
  for (const path of candidates) {
    try {
      const library = koffi.load(path);
      const sgemm = library.func(
        'void cblas_sgemm(int order, int transA, int transB, int m, int n, int k, float alpha, const float *a, int lda, const float *b, int ldb, float beta, float *c, int ldc)',
      ) as Sgemm;
      // Parallelism is ours (one wasm backend per worker thread), so OpenBLAS runs in the calling thread.
      (library.func('void openblas_set_num_threads(int threads)') as (threads: number) => void)(1);
      const config = (library.func('const char *openblas_get_config()') as () => string)().trim();
      const core = (library.func('const char *openblas_get_corename()') as () => string)();
      return { sgemm, detail: `${config} (core ${core}, 1 thread) from ${path}` };
    } catch (error) {
      failures.push(`${path}: ${(error as Error).message.split('\n')[0]}`);
    }
  }
  return `OpenBLAS did not load (${failures.join('; ')})`;
}

function tensorData(backend: WasmBackend, info: TensorInfo): WasmTensorData {
  const data = backend.dataIdMap.get(info.dataId);
  if (!data) throw new Error('blas: a tensor is not on the wasm backend');
  return data;
}

/** The output's batch dimensions: the operand with batches (a batch dimension of 1 broadcasts). */
function outerShapeOf(a: TensorInfo, b: TensorInfo): number[] {
  const batchesA = util.sizeFromShape(a.shape.slice(0, -2));
  const batchesB = util.sizeFromShape(b.shape.slice(0, -2));
  return (batchesA >= batchesB ? a.shape : b.shape).slice(0, -2);
}

/**
 * C = op(A)·op(B) for every batch (a batch dimension of 1 broadcasts), written into a new wasm tensor; plus `bias`
 * rows: one row [n] for every batch, or a row per batch ([...batch dimensions, 1, n]).
 */
function product(backend: WasmBackend, a: TensorInfo, b: TensorInfo, transposeA: boolean, transposeB: boolean, beta: number, bias?: TensorInfo): TensorInfo {
  const rankA = a.shape.length;
  const rankB = b.shape.length;
  const m = transposeA ? a.shape[rankA - 1]! : a.shape[rankA - 2]!;
  const k = transposeA ? a.shape[rankA - 2]! : a.shape[rankA - 1]!;
  const n = transposeB ? b.shape[rankB - 2]! : b.shape[rankB - 1]!;
  const batchesA = util.sizeFromShape(a.shape.slice(0, -2));
  const batchesB = util.sizeFromShape(b.shape.slice(0, -2));
  const batches = Math.max(batchesA, batchesB);
  const outerShape = outerShapeOf(a, b);
  const out = backend.makeOutput([...outerShape, m, n], 'float32');
  // Read the heap after makeOutput: an allocation may have grown (and so replaced) wasm's memory buffer.
  const heap = backend.wasm.HEAPU8.buffer;
  const matrix = (info: TensorInfo, batch: number, size: number): Float32Array =>
    new Float32Array(heap, tensorData(backend, info).memoryOffset + 4 * batch * size, size);
  const biasPerBatch = bias !== undefined && util.sizeFromShape(bias.shape) > n;
  for (let batch = 0; batch < batches; batch++) {
    const c = matrix(out, batch, m * n);
    const biasRow = bias ? matrix(bias, biasPerBatch ? batch : 0, n) : undefined;
    if (biasRow && m > 0) {
      // Bias rows by doubling copies: log₂(m) memmoves instead of m small copies.
      c.set(biasRow);
      for (let filled = n; filled < m * n; filled *= 2) c.copyWithin(filled, 0, Math.min(filled, m * n - filled));
    } else if (k === 0) c.fill(0);
    if (k === 0 || m === 0 || n === 0) continue;
    loaded!.sgemm(
      ROW_MAJOR,
      transposeA ? TRANSPOSE : NO_TRANSPOSE,
      transposeB ? TRANSPOSE : NO_TRANSPOSE,
      m,
      n,
      k,
      1,
      matrix(a, batchesA === 1 ? 0 : batch, m * k),
      transposeA ? m : k,
      matrix(b, batchesB === 1 ? 0 : batch, k * n),
      transposeB ? k : n,
      biasRow ? 1 : beta,
      c,
      n,
    );
  }
  return out;
}

/**
 * out[s] = A[offsets[s] … offsets[s] + rows)ᵀ · B[0 … rows), for row-major float32 A [·, p] and B [·, q] on wasm,
 * as a new tensor of `outShape` (offsets.length·p·q values), on OpenBLAS (call only where `matMulFormsFast`).
 * With A a padded image's pixels and B the output gradient laid on the same pixel grid (zero off the outputs),
 * these are a stride-1 convolution's filter gradient, one product per kernel offset, without an im2col copy
 * (hessian/second-order.ts).
 */
export function shiftedRowProducts(
  backend: tf.KernelBackend,
  a: TensorInfo,
  b: TensorInfo,
  offsets: readonly number[],
  rows: number,
  outShape: number[],
): TensorInfo {
  if (!original || a.dtype !== 'float32' || b.dtype !== 'float32') throw new Error('shiftedRowProducts: needs float32 operands and OpenBLAS');
  const wasm = backend as unknown as WasmBackend;
  const p = a.shape.at(-1)!;
  const q = b.shape.at(-1)!;
  if (offsets.some((offset) => (offset + rows) * p > util.sizeFromShape(a.shape)) || rows * q > util.sizeFromShape(b.shape)) {
    throw new Error('shiftedRowProducts: rows past the end of an operand');
  }
  const out = wasm.makeOutput(outShape, 'float32');
  // After makeOutput: an allocation may have grown (and so replaced) wasm's memory buffer.
  const heap = wasm.wasm.HEAPU8.buffer;
  const view = (info: TensorInfo, start: number, length: number): Float32Array =>
    new Float32Array(heap, tensorData(wasm, info).memoryOffset + 4 * start, length);
  offsets.forEach((offset, s) => {
    const c = view(out, s * p * q, p * q);
    if (rows === 0) c.fill(0);
    else loaded!.sgemm(ROW_MAJOR, TRANSPOSE, NO_TRANSPOSE, p, q, rows, 1, view(a, offset * p, rows * p), p, view(b, 0, rows * q), q, 0, c, q);
  });
  return out;
}

/** Batch dimensions sgemm's loop covers: equal counts, or one side without batches (tfjs' own wasm rule). */
function batchesSupported(a: TensorInfo, b: TensorInfo): boolean {
  const batchesA = util.sizeFromShape(a.shape.slice(0, -2));
  const batchesB = util.sizeFromShape(b.shape.slice(0, -2));
  return a.dtype === 'float32' && b.dtype === 'float32' && (batchesA === batchesB || batchesA === 1 || batchesB === 1);
}

const batchMatMul: KernelFunc = (args) => {
  const { a, b } = args.inputs as { a: TensorInfo; b: TensorInfo };
  const { transposeA, transposeB } = args.attrs as unknown as BatchMatMulAttrs;
  if (!batchesSupported(a, b)) return original!.batchMatMul.kernelFunc(args);
  return product(args.backend as WasmBackend, a, b, transposeA, transposeB, 0);
};

/** The activation kernels tfjs' fused matMul applies after the product (tfjs-core's applyActivation). */
const ACTIVATION_KERNEL: Record<string, string> = {
  relu: 'Relu',
  relu6: 'Relu6',
  elu: 'Elu',
  sigmoid: 'Sigmoid',
  leakyrelu: 'LeakyRelu',
  prelu: 'Prelu',
};

const fusedMatMul: KernelFunc = (args) => {
  const { a, b, bias, preluActivationWeights } = args.inputs as Record<string, TensorInfo | undefined>;
  const { transposeA, transposeB, activation, leakyreluAlpha } = args.attrs as unknown as _FusedMatMulAttrs;
  const activationKernel = activation === 'linear' ? undefined : ACTIVATION_KERNEL[activation];
  if (!batchesSupported(a!, b!) || (activation !== 'linear' && !activationKernel)) return original!.fusedMatMul.kernelFunc(args);
  const backend = args.backend as WasmBackend;
  const n = transposeB ? b!.shape.at(-2)! : b!.shape.at(-1)!;
  // A bias over the last axis (one row, or a row per batch) seeds C row by row (sgemm then adds with β = 1); any
  // other shape broadcasts by Add.
  const perBatch = [...outerShapeOf(a!, b!), 1, n];
  const rowBias = bias && bias.dtype === 'float32' && (util.sizeFromShape(bias.shape) === n || util.arraysEqual(bias.shape, perBatch)) ? bias : undefined;
  let y = product(backend, a!, b!, transposeA, transposeB, 0, rowBias);
  const then = (kernel: string, inputs: Record<string, TensorInfo>, attrs: NamedAttrMap = {}): void => {
    const next = getKernel(kernel, 'wasm')!.kernelFunc({ inputs, backend: args.backend, attrs }) as TensorInfo;
    backend.disposeData(y.dataId);
    y = next;
  };
  if (bias && !rowBias) then('Add', { a: y, b: bias });
  if (activationKernel === 'Prelu') then('Prelu', { x: y, alpha: preluActivationWeights! });
  else if (activationKernel === 'LeakyRelu') then('LeakyRelu', { x: y }, { alpha: leakyreluAlpha ?? 0.2 });
  else if (activationKernel) then(activationKernel, { x: y });
  return y;
};

/**
 * Puts OpenBLAS under wasm's BatchMatMul and _FusedMatMul (call after the wasm backend is initialized), or leaves
 * wasm's kernels, per `LANDSCAPE_BLAS`. Idempotent; the answer is recorded with the backend.
 */
export function installBlasKernels(setting = process.env.LANDSCAPE_BLAS?.trim() || 'auto'): BlasInfo {
  if (setting === 'off') {
    restoreWasmKernels();
    return { matMul: 'wasm', detail: 'LANDSCAPE_BLAS=off' };
  }
  const load = loads.get(setting) ?? loadOpenBlas(setting);
  loads.set(setting, load);
  if (typeof load === 'string') {
    if (setting !== 'auto') throw new InputError(`LANDSCAPE_BLAS=${setting}: ${load}`, 'LANDSCAPE_BLAS');
    restoreWasmKernels();
    return { matMul: 'wasm', detail: load };
  }
  loaded = load;
  if (!original) {
    original = { batchMatMul: getKernel(BatchMatMul, 'wasm')!, fusedMatMul: getKernel(_FusedMatMul, 'wasm')! };
    for (const [config, kernelFunc] of [
      [original.batchMatMul, batchMatMul],
      [original.fusedMatMul, fusedMatMul],
    ] as const) {
      unregisterKernel(config.kernelName, 'wasm');
      registerKernel({ kernelName: config.kernelName, backendName: 'wasm', kernelFunc });
    }
  }
  return { matMul: 'openblas', detail: loaded.detail };
}

/** Puts wasm's own matMul kernels back (LANDSCAPE_BLAS=off, and tests comparing the two). */
export function restoreWasmKernels(): void {
  if (!original) return;
  for (const config of [original.batchMatMul, original.fusedMatMul]) {
    unregisterKernel(config.kernelName, 'wasm');
    registerKernel(config);
  }
  original = undefined;
}

/**
 * A float32 tensor's values for reading on the host: on wasm a view of its memory (no copy; valid until the
 * tensor is disposed or the next op runs), elsewhere dataSync's copy: evaluation reads every pass's outputs
 * without copying them.
 */
export function hostValues(tensor: tf.Tensor): Float32Array {
  if (tensor.dtype !== 'float32' || tf.getBackend() !== 'wasm') return tensor.dataSync() as Float32Array;
  const backend = tf.backend() as unknown as WasmBackend;
  return new Float32Array(backend.wasm.HEAPU8.buffer, tensorData(backend, tensor).memoryOffset, tensor.size);
}

/**
 * A float32 tensor of `values` (converted from float64 where needed). On wasm the values are written straight into
 * the tensor's wasm memory: tf.tensor would take a host Float32Array copy first, which on every Hessian-vector
 * product is fresh host memory (page faults included) until a garbage collection frees the last ones.
 */
export function float32Tensor(values: Float64Array | Float32Array, shape: number[]): tf.Tensor {
  if (tf.getBackend() !== 'wasm') return tf.tensor(values instanceof Float32Array ? values : Float32Array.from(values), shape, 'float32');
  const backend = tf.backend() as unknown as WasmBackend;
  const tensor = tf.engine().makeTensorFromTensorInfo(backend.makeOutput(shape, 'float32'));
  hostValues(tensor).set(values);
  return tensor;
}

/**
 * Whether matMul's transposed and batched forms run as fast as the plain one on the active backend (OpenBLAS or
 * TensorFlow): the layout rules of matMul2d and the default points per pass depend on it.
 */
export function matMulFormsFast(): boolean {
  const backend = tf.getBackend();
  return backend === 'tensorflow' || (backend === 'wasm' && original !== undefined);
}

/**
 * op(x)·op(y) for 2-D x and y in the backend's fastest form. Where transposed forms are fast it is one matMul;
 * on wasm's own kernels (transposed forms 10–30× slower than transpose + plain matMul) it is computed as
 * op(x)·op(y) or (op(y)ᵀ·op(x)ᵀ)ᵀ with the transposes written out, whichever transposes fewer elements, so a wide
 * operand (an MLP's input batch) is never transposed.
 */
export function matMul2d(x: tf.Tensor2D, transposeX: boolean, y: tf.Tensor2D, transposeY: boolean): tf.Tensor2D {
  if (matMulFormsFast()) return tf.matMul(x, y, transposeX, transposeY);
  const t = (m: tf.Tensor2D, transposed: boolean): tf.Tensor2D => (transposed ? tf.transpose(m) : m);
  const rows = x.shape[transposeX ? 1 : 0];
  const columns = y.shape[transposeY ? 0 : 1];
  const direct = (transposeX ? x.size : 0) + (transposeY ? y.size : 0);
  const swapped = (transposeX ? 0 : x.size) + (transposeY ? 0 : y.size) + rows * columns;
  return direct <= swapped ? tf.matMul(t(x, transposeX), t(y, transposeY)) : t(tf.matMul(t(y, !transposeY), t(x, !transposeX)), true);
}

/**
 * Σ of `dy` over every axis but the last (a bias gradient) as the product 1ᵀ·rows: a column sum on wasm is a
 * strided reduction, ~10× slower than a contiguous one (5.0 against 0.4 ms over [512, 14, 14, 16] on OpenBLAS).
 */
export function columnSums(dy: tf.Tensor): tf.Tensor1D {
  const channels = dy.shape.at(-1)!;
  const rows = tf.reshape(dy, [-1, channels]) as tf.Tensor2D;
  return tf.reshape(matMul2d(tf.fill([1, rows.shape[0]], 1) as tf.Tensor2D, false, rows, false), [channels]);
}
