import * as tf from '@tensorflow/tfjs-core';
import { installBlasKernels } from './blas';
import { adviseHugePages } from './huge-pages';
import { installSharingKernels } from './wasm-sharing';
import { InputError } from './errors';
import { installSecondOrderGradientsOnFirstUse } from './hessian/second-order';

/**
 * Run-time backend choice. `auto` tries, in order, tfjs-node-gpu, tfjs-node (both optional dependencies that
 * may be absent or fail to load their native library), wasm, then the pure-JS cpu backend.
 */
export const BACKENDS = ['auto', 'tensorflow-gpu', 'tensorflow', 'wasm', 'cpu'] as const;
export type BackendChoice = (typeof BACKENDS)[number];

export interface BackendInfo {
  /** The tfjs backend name in use (`tensorflow`, `wasm`, `cpu`). */
  name: string;
  /** Which package provided it and what device it runs on. */
  package: string;
  device: string;
  /** What runs matMul on wasm: OpenBLAS' build and core, or why wasm's own kernels do (docs/performance.md). */
  matMul?: string;
  /** wasm only: whether its memory was advised to use transparent huge pages (huge-pages.ts). */
  memory?: string;
  /** Why preferred backends were skipped, for the record. */
  skipped: string[];
}

let active: BackendInfo | undefined;

async function tryNative(pkg: string): Promise<string | undefined> {
  try {
    require(pkg);
    if (await tf.setBackend('tensorflow')) return undefined;
    return 'setBackend(tensorflow) returned false';
  } catch (error) {
    return (error as Error).message.split('\n')[0];
  }
}

export async function selectBackend(choice: BackendChoice = 'auto'): Promise<BackendInfo> {
  // Production mode: skips tfjs' debug checks and its console banners (we report the backend ourselves).
  tf.env().set('PROD', true);
  if (active && (choice === 'auto' || matches(active, choice))) return active;
  active = await initialize(choice);
  // Every process and thread differentiates with the same (second-order-safe) gradients, whatever it ran before:
  // training (train jobs, autoencoders) then gives the same numbers embedded and on any worker.
  installSecondOrderGradientsOnFirstUse();
  return active;
}

async function initialize(choice: BackendChoice): Promise<BackendInfo> {
  const skipped: string[] = [];
  const order: BackendChoice[] = choice === 'auto' ? ['tensorflow-gpu', 'tensorflow', 'wasm', 'cpu'] : [choice];
  for (const candidate of order) {
    if (candidate === 'tensorflow-gpu' || candidate === 'tensorflow') {
      const pkg = candidate === 'tensorflow-gpu' ? '@tensorflow/tfjs-node-gpu' : '@tensorflow/tfjs-node';
      const failure = await tryNative(pkg);
      if (failure === undefined) {
        return { name: 'tensorflow', package: pkg, device: candidate === 'tensorflow-gpu' ? 'gpu' : 'cpu', skipped };
      }
      skipped.push(`${pkg}: ${failure}`);
      continue;
    }
    if (candidate === 'wasm') {
      try {
        require('@tensorflow/tfjs-backend-wasm');
        if (await tf.setBackend('wasm')) {
          installSharingKernels();
          const blas = installBlasKernels();
          const matMul = blas.matMul === 'openblas' ? blas.detail : `wasm's own kernels (${blas.detail})`;
          const memory = adviseHugePages((tf.backend() as unknown as { wasm: { HEAPU8: Uint8Array } }).wasm.HEAPU8);
          return { name: 'wasm', package: '@tensorflow/tfjs-backend-wasm', device: 'cpu (1 thread, SIMD)', matMul, memory, skipped };
        }
        skipped.push('@tensorflow/tfjs-backend-wasm: setBackend(wasm) returned false');
      } catch (error) {
        skipped.push(`@tensorflow/tfjs-backend-wasm: ${(error as Error).message.split('\n')[0]}`);
      }
      continue;
    }
    require('@tensorflow/tfjs-backend-cpu');
    await tf.setBackend('cpu');
    return { name: 'cpu', package: '@tensorflow/tfjs-backend-cpu', device: 'cpu (pure JavaScript)', skipped };
  }
  throw new InputError(`backend ${choice} is not available: ${skipped.join('; ')}`, 'backend');
}

function matches(info: BackendInfo, choice: BackendChoice): boolean {
  if (choice === 'tensorflow-gpu') return info.package.endsWith('node-gpu');
  if (choice === 'tensorflow') return info.package.endsWith('tfjs-node');
  return info.name === choice;
}
