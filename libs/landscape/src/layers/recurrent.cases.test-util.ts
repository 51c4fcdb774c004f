import * as tfl from '@tensorflow/tfjs-layers';
import type { LayerCase } from './layer-check.test-util';

/**
 * Seeded tfjs-layers models covering the embedding and recurrent families: text classifiers (token ids in, class
 * scores out) and recurrent stacks over float sequences. GRU with reset_after, which tfjs-layers lacks, is checked
 * against PyTorch in recurrent.test.ts.
 */
const L = tfl.layers;
const sequential = (layers: tfl.layers.Layer[]): tfl.LayersModel => tfl.sequential({ layers });
// tfjs' default orthogonal initializer needs its chained ops; the weights are replaced by seeded values anyway.
const init = { recurrentInitializer: 'glorotNormal' } as const;
const VOCABULARY = 12;

export const cases: LayerCase[] = [
  {
    name: 'Embedding → LSTM text classifier',
    covers: ['Embedding', 'LSTM'],
    input: [6],
    vocabulary: VOCABULARY,
    build: () =>
      sequential([
        L.embedding({ inputDim: VOCABULARY, outputDim: 4, inputLength: 6 }),
        L.lstm({ units: 5, recurrentActivation: 'sigmoid', ...init }),
        L.dense({ units: 3 }),
      ]),
  },
  {
    name: 'Embedding → GRU (backwards) text classifier',
    covers: ['Embedding', 'GRU'],
    input: [5],
    vocabulary: VOCABULARY,
    build: () =>
      sequential([
        L.embedding({ inputDim: VOCABULARY, outputDim: 4, inputLength: 5 }),
        L.gru({ units: 4, recurrentActivation: 'sigmoid', goBackwards: true, ...init }),
        L.dense({ units: 3 }),
      ]),
  },
  {
    name: 'Embedding → mean pooling',
    covers: ['Embedding'],
    input: [7],
    vocabulary: VOCABULARY,
    build: () =>
      sequential([L.embedding({ inputDim: VOCABULARY, outputDim: 5, inputLength: 7 }), L.globalAveragePooling1d(), L.dense({ units: 2, activation: 'tanh' })]),
  },
  {
    name: 'SimpleRNN stack',
    covers: ['SimpleRNN'],
    input: [5, 3],
    build: () =>
      sequential([
        L.simpleRNN({ units: 4, returnSequences: true, inputShape: [5, 3], ...init }),
        L.simpleRNN({ units: 3, activation: 'sigmoid', useBias: false, ...init }),
      ]),
  },
  {
    name: 'LSTM (hard_sigmoid, sequences) → GRU (no bias)',
    covers: ['LSTM', 'GRU'],
    input: [4, 3],
    build: () =>
      sequential([
        L.lstm({ units: 4, returnSequences: true, inputShape: [4, 3], ...init }),
        L.gru({ units: 3, recurrentActivation: 'sigmoid', useBias: false, ...init }),
        L.dense({ units: 2 }),
      ]),
  },
  {
    name: 'Bidirectional LSTM sequences → Bidirectional GRU (sum)',
    covers: ['Bidirectional', 'LSTM', 'GRU'],
    input: [4, 2],
    build: () =>
      sequential([
        L.bidirectional({ layer: L.lstm({ units: 3, returnSequences: true, recurrentActivation: 'sigmoid', ...init }) as tfl.RNN, inputShape: [4, 2] }),
        L.bidirectional({ layer: L.gru({ units: 2, recurrentActivation: 'sigmoid', ...init }) as tfl.RNN, mergeMode: 'sum' }),
      ]),
  },
];
