import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { loadDatasetFile } from '../data';
import type { EvaluationSetup } from '../evaluate';
import { loadModel } from '../model';
import { readWeightSetFile } from '../weights';

/** The PyTorch reference fixtures (test/fixtures/reference, README sections 9 and 12). */
export const REFERENCE = join(__dirname, '..', '..', '..', '..', 'test', 'fixtures', 'reference');
export const MODELS = ['m1_mlp', 'm2_cnn'] as const;

export interface ReferenceHessian {
  top5_eigenvalues_descending: number[];
  bottom2_eigenvalues_ascending: number[];
  trace: number;
  all_eigenvalues_ascending: number[];
}

export function referenceCase(name: (typeof MODELS)[number], batchSize = 1024) {
  const dir = join(REFERENCE, name);
  const model = loadModel(join(dir, 'model_trained'));
  const layout = model.description.layout;
  const setup: EvaluationSetup = {
    model: model.description,
    data: loadDatasetFile(join(dir, 'dataset.json')),
    loss: 'sparse_categorical_crossentropy',
    output: 'logits',
    batchSize,
  };
  return {
    dir,
    setup,
    theta: model.weights,
    d1: readWeightSetFile(join(dir, 'direction_d1_raw.json'), layout),
    hvpD1: readWeightSetFile(join(dir, 'hvp_trained_d1.json'), layout),
    grad: readWeightSetFile(join(dir, 'grad_trained.json'), layout),
    hessian: JSON.parse(readFileSync(join(dir, 'ref_hessian.json'), 'utf8')) as ReferenceHessian,
  };
}

/** ‖a − b‖ / ‖b‖. */
export function relativeError(a: Float64Array, b: Float64Array): number {
  let diff = 0;
  let ref = 0;
  for (let i = 0; i < a.length; i++) {
    diff += (a[i]! - b[i]!) ** 2;
    ref += b[i]! ** 2;
  }
  return Math.sqrt(diff / ref);
}
