import { join } from 'node:path';
import { HessianOperator, lanczos, loadDatasetFile, loadModel, randomDirection, selectBackend, type BackendChoice } from '@landscape/core';
import { machine, REFERENCE_DIR } from './core';
import { medianSeconds, report } from './measure';

/**
 * Cost of curvature work on a reference model: one Hessian-vector product against one gradient (both over the
 * whole evaluation set), and the wall time of the top eigenvalue by Lanczos.
 */
export async function benchCurvature(model: 'm1_mlp' | 'm2_cnn', backend: BackendChoice): Promise<void> {
  const used = await selectBackend(backend);
  const loaded = loadModel(join(REFERENCE_DIR, model, 'model_trained'));
  const data = loadDatasetFile(join(REFERENCE_DIR, model, 'dataset.json'));
  const hessian = new HessianOperator(
    { model: loaded.description, data, loss: 'sparse_categorical_crossentropy', output: 'logits', batchSize: 1024 },
    loaded.weights,
  );
  const v = randomDirection(loaded.description.layout, 1);
  const gradientSeconds = await medianSeconds(7, () => hessian.gradient());
  const hvpSeconds = await medianSeconds(7, () => hessian.hvp(v));
  report({
    case: 'hvp',
    model,
    backend: used.name,
    gradientSeconds,
    hvpSeconds,
    hvpOverGradient: hvpSeconds / gradientSeconds,
    parameters: loaded.weights.length,
    samples: data.n,
    ...machine(),
  });
  let top = 0;
  let hvps = 0;
  const seconds = await medianSeconds(3, () => {
    const result = lanczos(hessian.operator, { top: 1, tol: 1e-6, vectors: false, seed: 0 });
    top = result.top.eigenvalues[0]!;
    hvps = result.hvps;
  });
  report({ case: 'top-eigenvalue', model, backend: used.name, method: 'lanczos', tol: 1e-6, seconds, hvps, eigenvalue: top, ...machine() });
  hessian.dispose();
}
