import type { LandscapeResult } from '../result';

/** The provenance fields of a hand-made line or surface result (the numbers are the test's own). */
export function provenance(): Omit<LandscapeResult, 'kind' | 'x' | 'y' | 'loss' | 'accuracy' | 'directions' | 'points' | 'pointsComputed'> {
  return {
    label: 'synthetic bowl',
    normalization: 'filter',
    bias: 'ignore',
    version: '0.1.0',
    backend: 'cpu',
    backendDetail: { name: 'cpu' } as LandscapeResult['backendDetail'],
    threads: 1,
    dtype: 'float32',
    model: { ref: 'models/bowl/model.json', name: 'bowl', parameters: 2 },
    data: { source: 'synthetic', total: 10, n: 10 },
    lossFunction: 'sparse_categorical_crossentropy',
    output: 'logits',
    batchSize: 10,
    timings: { startedAt: '', finishedAt: '', prepareSeconds: 0, evaluateSeconds: 1, totalSeconds: 1, pointsPerSecond: 63 },
  };
}
