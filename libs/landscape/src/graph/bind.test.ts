import * as tf from '@tensorflow/tfjs-core';
import * as tfl from '@tensorflow/tfjs-layers';
import { beforeAll, describe, expect, it } from 'vitest';
import { selectBackend } from '../backend';
import { maxNormError, savedArtifacts, seededInput, seedWeights } from '../layers/layer-check.test-util';
import { describeModel, forward, toTensors, weightsFromBytes } from '../model';

const L = tfl.layers;
// tfjs' default orthogonal initializer needs its chained ops; the weights are replaced by seeded values anyway.
const init = { recurrentInitializer: 'glorotNormal' } as const;

beforeAll(async () => {
  await selectBackend('cpu');
});

describe('recurrent weights named after their cell, as Keras exports them', () => {
  it("binds 'lstm/lstm_cell/kernel' and 'bidirectional/forward_lstm_1/lstm_cell_1/kernel' and evaluates like tfjs-layers predict", async () => {
    const reference = tfl.sequential({
      layers: [
        L.bidirectional({
          name: 'bidirectional',
          layer: L.lstm({ name: 'lstm_1', units: 3, returnSequences: true, recurrentActivation: 'sigmoid', ...init }) as tfl.RNN,
          inputShape: [4, 2],
        }),
        L.gru({ name: 'gru', units: 3, returnSequences: true, recurrentActivation: 'sigmoid', ...init }),
        L.lstm({ name: 'lstm', units: 2, recurrentActivation: 'sigmoid', ...init }),
      ],
    });
    seedWeights(reference, 5);
    const { modelJson, bytes } = await savedArtifacts(reference);
    const entries = modelJson.weightsManifest[0]!.weights;
    const cellNamed: Record<string, string> = {
      'bidirectional/forward_lstm_1/kernel': 'bidirectional/forward_lstm_1/lstm_cell_1/kernel',
      'bidirectional/backward_lstm_1/recurrent_kernel': 'bidirectional/backward_lstm_1/lstm_cell_2/recurrent_kernel',
      'gru/bias': 'gru/gru_cell/bias',
      'lstm/kernel': 'lstm/lstm_cell/kernel',
      'lstm/recurrent_kernel': 'lstm/lstm_cell/recurrent_kernel',
    };
    for (const entry of entries) entry.name = cellNamed[entry.name] ?? entry.name;
    expect(entries.map((entry) => entry.name)).toEqual(expect.arrayContaining(Object.values(cellNamed)));

    const description = describeModel(modelJson, 'keras.json');
    const weights = weightsFromBytes(bytes, description, 'keras.json');
    const x = seededInput([5, 4, 2], 9);
    const [ours, theirs] = tf.tidy(() => [
      forward(description, toTensors(weights, description.layout), x).dataSync(),
      (reference.predict(x) as tf.Tensor).dataSync(),
    ]);
    expect(maxNormError(ours, theirs)).toBeLessThan(1e-5);
    x.dispose();
    reference.dispose();
  });

  it('refuses a weight two cells could both be', async () => {
    const reference = tfl.sequential({ layers: [L.simpleRNN({ name: 'rnn', units: 2, inputShape: [3, 2], ...init })] });
    const { modelJson } = await savedArtifacts(reference);
    const entries = modelJson.weightsManifest[0]!.weights;
    const kernel = entries.find((entry) => entry.name === 'rnn/kernel')!;
    kernel.name = 'rnn/simple_rnn_cell/kernel';
    entries.push({ ...kernel, name: 'rnn/simple_rnn_cell_1/kernel' });
    expect(() => describeModel(modelJson, 'keras.json')).toThrow(/layer 'rnn' needs weight 'rnn\/kernel'/);
    reference.dispose();
  });
});
