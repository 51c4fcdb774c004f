import { getKernel, registerKernel, unregisterKernel, type KernelConfig, type KernelFunc, type TensorInfo } from '@tensorflow/tfjs-core';

interface SharingBackend {
  incRef(dataId: object): void;
}

/**
 * wasm's Identity, and its Cast to the same dtype, copy their input into new memory; tensors are immutable, so
 * the output can share the input's data instead, the way wasm's own Reshape does (a reference count on the data).
 * Gradients clone and cast a lot: a CNN's first Hessian-vector product made ~80 MB of such copies, fresh memory
 * that takes page faults (on some machines ~12 µs a page) and time to fill.
 */
const share = (x: TensorInfo, backend: unknown): TensorInfo => {
  (backend as SharingBackend).incRef(x.dataId);
  return { dataId: x.dataId, shape: x.shape, dtype: x.dtype };
};

let original: { identity: KernelConfig; cast: KernelConfig } | undefined;

/** Installs the sharing Identity and Cast on wasm (after the backend is initialized). Idempotent. */
export function installSharingKernels(): void {
  if (original) return;
  original = { identity: getKernel('Identity', 'wasm')!, cast: getKernel('Cast', 'wasm')! };
  const identity: KernelFunc = ({ inputs, backend, attrs }) =>
    inputs.x!.dtype === 'string' ? original!.identity.kernelFunc({ inputs, backend, attrs }) : share(inputs.x!, backend);
  const cast: KernelFunc = ({ inputs, backend, attrs }) =>
    attrs?.dtype === inputs.x!.dtype && inputs.x!.dtype !== 'string' ? share(inputs.x!, backend) : original!.cast.kernelFunc({ inputs, backend, attrs });
  for (const [name, kernelFunc] of [
    ['Identity', identity],
    ['Cast', cast],
  ] as const) {
    unregisterKernel(name, 'wasm');
    registerKernel({ kernelName: name, backendName: 'wasm', kernelFunc });
  }
}
