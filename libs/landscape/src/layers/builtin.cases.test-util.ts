import * as tfl from '@tensorflow/tfjs-layers';
import type { ActivationIdentifier } from '@tensorflow/tfjs-layers/dist/keras_format/activation_config';
import type { LayerCase, Topology } from './layer-check.test-util';

/**
 * Seeded tfjs-layers models, one per case, covering every layer of the core, conv, pooling, normalization, merge,
 * activation and reshape families. Layers tfjs-layers lacks are verified by building the reference from
 * equivalent tfjs-layers layers and rewriting the saved topology to the layer under test.
 */
const L = tfl.layers;
const sequential = (layers: tfl.layers.Layer[]): tfl.LayersModel => tfl.sequential({ layers });

/** Sequential topology edit: layers `from`…`to` (by name, inclusive) become `replacement`. */
const replaceLayers =
  (from: string, to: string, replacement: { class_name: string; config: Record<string, unknown> }) =>
  (topology: Topology): void => {
    const layers = topology.config.layers;
    const start = layers.findIndex((layer) => layer.config.name === from);
    const end = layers.findIndex((layer) => layer.config.name === to);
    if (start < 0 || end < start) throw new Error(`no layers ${from}…${to} to replace`);
    layers.splice(start, end - start + 1, replacement);
  };

/** A 1-D spatial layer checked as its 2-D twin over [n, width, 1, channels]. */
const viaImage = (name: string, width: number, channels: number, outWidth: number, twin: tfl.layers.Layer): tfl.layers.Layer[] => [
  L.reshape({ name: `${name}_in`, targetShape: [width, 1, channels] }),
  twin,
  L.reshape({ name: `${name}_out`, targetShape: [outWidth, channels] }),
];

export const cases: LayerCase[] = [
  {
    name: 'dense on rows',
    covers: ['Dense'],
    input: [4],
    build: () => sequential([L.dense({ units: 5, activation: 'tanh', inputShape: [4] }), L.dense({ units: 3, useBias: false })]),
  },
  {
    name: 'dense on a rank-3 input',
    covers: ['Dense', 'Flatten'],
    input: [3, 4],
    build: () => sequential([L.dense({ units: 5, activation: 'sigmoid', inputShape: [3, 4] }), L.flatten(), L.dense({ units: 2 })]),
  },
  {
    // tfjs-layers registers logSoftmax though its ActivationIdentifier type omits it.
    name: 'smooth activations',
    covers: ['Activation'],
    input: [4],
    build: () =>
      sequential([
        L.dense({ units: 6, inputShape: [4] }),
        ...(
          [
            'tanh',
            'sigmoid',
            'softplus',
            'softsign',
            'elu',
            'selu',
            'gelu',
            'gelu_new',
            'mish',
            'swish',
            'logSoftmax',
            'softmax',
          ] as string[] as ActivationIdentifier[]
        ).map((activation) => L.activation({ activation })),
        L.dense({ units: 2 }),
      ]),
  },
  {
    name: 'piecewise-linear activations',
    covers: ['Activation'],
    input: [4],
    build: () =>
      sequential([
        L.dense({ units: 6, inputShape: [4], activation: 'relu6' }),
        L.dense({ units: 6, activation: 'relu' }),
        L.activation({ activation: 'hardSigmoid' }),
        L.activation({ activation: 'linear' }),
        L.dense({ units: 2 }),
      ]),
  },
  {
    name: 'dropout and noise layers',
    covers: ['Dropout', 'SpatialDropout1D', 'GaussianNoise', 'GaussianDropout', 'AlphaDropout'],
    input: [4, 3],
    build: () =>
      sequential([
        L.dense({ units: 5, activation: 'tanh', inputShape: [4, 3] }),
        L.dropout({ rate: 0.3 }),
        L.spatialDropout1d({ rate: 0.3 }),
        L.gaussianNoise({ stddev: 0.2 }),
        L.gaussianDropout({ rate: 0.2 }),
        L.alphaDropout({ rate: 0.2 }),
        L.flatten(),
        L.dense({ units: 2 }),
      ]),
  },
  {
    name: 'spatial dropout 2-D (identity, inserted)',
    covers: ['SpatialDropout2D'],
    input: [5, 5, 2],
    build: () =>
      sequential([
        L.conv2d({ name: 'c', filters: 3, kernelSize: 3, activation: 'tanh', inputShape: [5, 5, 2] }),
        L.flatten({ name: 'f' }),
        L.dense({ units: 2 }),
      ]),
    rewrite: (topology) => {
      const at = topology.config.layers.findIndex((layer) => layer.config.name === 'f');
      topology.config.layers.splice(at, 0, { class_name: 'SpatialDropout2D', config: { name: 'sd', rate: 0.5 } });
    },
  },
  {
    name: 'rescaling',
    covers: ['Rescaling'],
    input: [4],
    build: () => sequential([L.rescaling({ scale: 0.5, offset: -1, inputShape: [4] }), L.dense({ units: 3, activation: 'tanh' }), L.dense({ units: 2 })]),
  },
  {
    name: 'conv1d: same, strided, causal',
    covers: ['Conv1D'],
    input: [8, 3],
    build: () =>
      sequential([
        L.conv1d({ filters: 4, kernelSize: 3, padding: 'same', activation: 'tanh', inputShape: [8, 3] }),
        // tfjs-layers lacks causal padding: the reference pads the start itself; the rewrite makes the conv causal.
        ...viaImage('causal', 8, 4, 9, L.zeroPadding2d({ padding: [[1, 0] as [number, number], [0, 0] as [number, number]] })),
        L.conv1d({ name: 'causal', filters: 3, kernelSize: 2, activation: 'elu' }),
        L.conv1d({ filters: 3, kernelSize: 2, strides: 2 }),
        L.flatten(),
        L.dense({ units: 2 }),
      ]),
    rewrite: (topology) => {
      replaceLayers('causal_in', 'causal_out', { class_name: 'Dropout', config: { name: 'no_op', rate: 0 } })(topology);
      topology.config.layers.find((layer) => layer.config.name === 'causal')!.config.padding = 'causal';
    },
  },
  {
    name: 'conv2d: same strided, valid',
    covers: ['Conv2D'],
    input: [6, 6, 2],
    build: () =>
      sequential([
        L.conv2d({ filters: 3, kernelSize: 3, strides: 2, padding: 'same', activation: 'tanh', inputShape: [6, 6, 2] }),
        L.conv2d({ filters: 2, kernelSize: 2, activation: 'softplus' }),
        L.flatten(),
        L.dense({ units: 2 }),
      ]),
  },
  {
    name: 'depthwise conv2d with ReLU6',
    covers: ['DepthwiseConv2D'],
    input: [6, 6, 2],
    build: () =>
      sequential([
        L.depthwiseConv2d({ kernelSize: 3, depthMultiplier: 2, padding: 'same', activation: 'relu6', inputShape: [6, 6, 2] }),
        L.depthwiseConv2d({ kernelSize: 2, strides: 2, activation: 'tanh' }),
        L.flatten(),
        L.dense({ units: 2 }),
      ]),
  },
  {
    name: 'separable conv2d',
    covers: ['SeparableConv2D'],
    input: [6, 6, 2],
    build: () =>
      sequential([
        // tfjs-layers does not save depth_multiplier for separable convolutions, so only the default reloads there.
        L.separableConv2d({ filters: 3, kernelSize: 3, padding: 'same', activation: 'tanh', inputShape: [6, 6, 2] }),
        L.separableConv2d({ filters: 2, kernelSize: 2, strides: 2 }),
        L.flatten(),
        L.dense({ units: 2 }),
      ]),
  },
  {
    name: 'conv2d transpose: same strided, valid',
    covers: ['Conv2DTranspose'],
    input: [3, 3, 2],
    build: () =>
      sequential([
        L.conv2dTranspose({ filters: 3, kernelSize: 3, strides: 2, padding: 'same', activation: 'tanh', inputShape: [3, 3, 2] }),
        L.conv2dTranspose({ filters: 2, kernelSize: 2 }),
        L.flatten(),
        L.dense({ units: 2 }),
      ]),
  },
  {
    name: 'pooling 1-D',
    covers: ['MaxPooling1D', 'AveragePooling1D'],
    input: [8, 3],
    build: () =>
      sequential([
        L.conv1d({ filters: 3, kernelSize: 2, activation: 'tanh', inputShape: [8, 3] }),
        L.maxPooling1d({ poolSize: 2 }),
        L.averagePooling1d({ poolSize: 2, strides: 1, padding: 'same' }),
        L.flatten(),
        L.dense({ units: 2 }),
      ]),
  },
  {
    name: 'pooling 2-D',
    covers: ['MaxPooling2D', 'AveragePooling2D'],
    input: [6, 6, 2],
    build: () =>
      sequential([
        L.conv2d({ filters: 3, kernelSize: 2, activation: 'tanh', inputShape: [6, 6, 2] }),
        L.maxPooling2d({ poolSize: 2, padding: 'same' }),
        L.averagePooling2d({ poolSize: 2, strides: 1 }),
        L.flatten(),
        L.dense({ units: 2 }),
      ]),
  },
  {
    name: 'global pooling 1-D, concatenated',
    covers: ['GlobalMaxPooling1D', 'GlobalAveragePooling1D', 'Concatenate'],
    input: [5, 3],
    build: () => {
      const x = tfl.input({ shape: [5, 3] });
      const h = L.conv1d({ filters: 4, kernelSize: 2, activation: 'tanh' }).apply(x) as tfl.SymbolicTensor;
      const pooled = L.concatenate().apply([L.globalMaxPooling1d({}).apply(h), L.globalAveragePooling1d({}).apply(h)] as tfl.SymbolicTensor[]);
      return tfl.model({ inputs: x, outputs: L.dense({ units: 2 }).apply(pooled) as tfl.SymbolicTensor });
    },
  },
  {
    name: 'global pooling 2-D, concatenated',
    covers: ['GlobalMaxPooling2D', 'GlobalAveragePooling2D', 'Concatenate'],
    input: [5, 5, 2],
    build: () => {
      const x = tfl.input({ shape: [5, 5, 2] });
      const h = L.conv2d({ filters: 3, kernelSize: 2, activation: 'tanh' }).apply(x) as tfl.SymbolicTensor;
      const pooled = L.concatenate({ axis: 1 }).apply([L.globalMaxPooling2d({}).apply(h), L.globalAveragePooling2d({}).apply(h)] as tfl.SymbolicTensor[]);
      return tfl.model({ inputs: x, outputs: L.dense({ units: 2 }).apply(pooled) as tfl.SymbolicTensor });
    },
  },
  {
    // Evaluation folds each BN into the layer before it (graph/fold.ts) except after the 1×1 conv, which an Add reads too.
    name: 'batch normalization folded into dense and convolution layers',
    covers: ['BatchNormalization', 'Dense', 'Conv1D', 'Conv2D', 'DepthwiseConv2D', 'SeparableConv2D'],
    input: [6, 6, 3],
    build: () => {
      const x = tfl.input({ shape: [6, 6, 3] });
      const bn = (t: unknown, config: Parameters<typeof L.batchNormalization>[0] = {}): tfl.SymbolicTensor =>
        L.batchNormalization(config).apply(t as tfl.SymbolicTensor) as tfl.SymbolicTensor;
      let h = bn(L.conv2d({ filters: 4, kernelSize: 3, padding: 'same', useBias: false }).apply(x));
      h = bn(L.depthwiseConv2d({ kernelSize: 3, depthMultiplier: 2, padding: 'same' }).apply(h), { center: false });
      h = bn(L.separableConv2d({ filters: 5, kernelSize: 3 }).apply(h), { scale: false });
      const shared = L.conv2d({ filters: 5, kernelSize: 1 }).apply(h) as tfl.SymbolicTensor;
      h = L.add().apply([bn(shared), shared]) as tfl.SymbolicTensor;
      h = bn(L.conv1d({ filters: 3, kernelSize: 2 }).apply(L.reshape({ targetShape: [16, 5] }).apply(h)));
      h = bn(L.dense({ units: 4 }).apply(L.flatten().apply(h)));
      return tfl.model({ inputs: x, outputs: L.dense({ units: 2 }).apply(h) as tfl.SymbolicTensor });
    },
  },
  {
    name: 'batch normalization on features, images and axis 1',
    covers: ['BatchNormalization'],
    input: [4, 3],
    // tfjs' cpu batchNorm kernel broadcasts statistics along the last axis only (wrong for axis 1), so the reference
    // normalizes axis 1 between two transposes; the rewrite drops them and sets axis 1.
    build: () =>
      sequential([
        L.permute({ name: 'to_last', dims: [2, 1], inputShape: [4, 3] }),
        L.batchNormalization({ name: 'bn_axis1' }),
        L.permute({ name: 'back', dims: [2, 1] }),
        L.dense({ units: 5, activation: 'tanh' }),
        L.batchNormalization({ scale: false }),
        L.reshape({ targetShape: [2, 2, 5] }),
        L.conv2d({ filters: 3, kernelSize: 1, activation: 'tanh' }),
        L.batchNormalization({ center: false }),
        L.flatten(),
        L.dense({ units: 2 }),
      ]),
    rewrite: (topology) => {
      const layers = topology.config.layers;
      const bn = layers.find((layer) => layer.config.name === 'bn_axis1')!;
      bn.config.axis = 1;
      bn.config.batch_input_shape = [null, 4, 3];
      layers.splice(
        layers.findIndex((layer) => layer.config.name === 'back'),
        1,
      );
      layers.splice(
        layers.findIndex((layer) => layer.config.name === 'to_last'),
        1,
      );
    },
  },
  {
    name: 'layer normalization',
    covers: ['LayerNormalization'],
    input: [4, 3],
    build: () => sequential([L.dense({ units: 5, inputShape: [4, 3] }), L.layerNormalization({}), L.flatten(), L.dense({ units: 2 })]),
  },
  {
    name: 'elementwise merges',
    covers: ['Add', 'Multiply', 'Average', 'Maximum', 'Minimum', 'Concatenate'],
    input: [4],
    build: () => {
      const x = tfl.input({ shape: [4] });
      const a = L.dense({ units: 4, activation: 'tanh' }).apply(x) as tfl.SymbolicTensor;
      const b = L.dense({ units: 4, activation: 'sigmoid' }).apply(x) as tfl.SymbolicTensor;
      const merged = [L.add(), L.multiply(), L.average(), L.maximum(), L.minimum()].map((layer) => layer.apply([a, b]) as tfl.SymbolicTensor);
      return tfl.model({ inputs: x, outputs: L.dense({ units: 2 }).apply(L.concatenate().apply(merged)) as tfl.SymbolicTensor });
    },
  },
  {
    name: 'subtract (as add of a negation, rewritten)',
    covers: ['Subtract'],
    input: [4],
    build: () => {
      const x = tfl.input({ name: 'x', shape: [4] });
      const a = L.dense({ name: 'a', units: 3, activation: 'tanh' }).apply(x) as tfl.SymbolicTensor;
      const b = L.dense({ name: 'b', units: 3, activation: 'sigmoid' }).apply(x) as tfl.SymbolicTensor;
      const difference = L.add({ name: 'difference' }).apply([a, L.rescaling({ name: 'negate', scale: -1 }).apply(b)] as tfl.SymbolicTensor[]);
      return tfl.model({ inputs: x, outputs: L.dense({ name: 'out', units: 2, activation: 'tanh' }).apply(difference) as tfl.SymbolicTensor });
    },
    rewrite: (topology) => {
      const layers = topology.config.layers;
      layers.splice(
        layers.findIndex((layer) => layer.name === 'negate'),
        1,
      );
      const difference = layers.find((layer) => layer.name === 'difference')!;
      difference.class_name = 'Subtract';
      difference.inbound_nodes = [
        [
          ['a', 0, 0, {}],
          ['b', 0, 0, {}],
        ],
      ];
    },
  },
  {
    name: 'attention: dot products and softmax',
    covers: ['Dot', 'Softmax'],
    input: [3, 4],
    build: () => {
      const x = tfl.input({ shape: [3, 4] });
      const [q, k, v] = [0, 1, 2].map(() => L.dense({ units: 4 }).apply(x) as tfl.SymbolicTensor);
      const weights = L.softmax({ axis: -1 }).apply(L.dot({ axes: [2, 2] }).apply([q!, k!])) as tfl.SymbolicTensor;
      const attended = L.dot({ axes: [2, 1] }).apply([weights, v!]) as tfl.SymbolicTensor;
      const pooled = L.globalAveragePooling1d({}).apply(attended) as tfl.SymbolicTensor;
      const cosine = L.dot({ axes: 1, normalize: true }).apply([pooled, L.dense({ units: 4 }).apply(pooled)] as tfl.SymbolicTensor[]);
      return tfl.model({
        inputs: x,
        outputs: L.dense({ units: 2 }).apply(L.concatenate().apply([pooled, cosine] as tfl.SymbolicTensor[])) as tfl.SymbolicTensor,
      });
    },
  },
  {
    name: 'activation layers',
    covers: ['ReLU', 'LeakyReLU', 'ELU', 'ThresholdedReLU', 'PReLU', 'Softmax'],
    input: [4],
    build: () =>
      sequential([
        L.dense({ units: 6, inputShape: [4] }),
        L.reLU({ maxValue: 1 }),
        L.dense({ units: 6 }),
        L.leakyReLU({ alpha: 0.2 }),
        L.elu({}),
        L.thresholdedReLU({ theta: 0.1 }),
        L.dense({ units: 6 }),
        L.prelu({}),
        L.softmax({}),
        L.dense({ units: 2 }),
      ]),
  },
  {
    name: 'reshape, permute, repeat',
    covers: ['Reshape', 'Permute', 'RepeatVector', 'Flatten'],
    input: [6],
    build: () =>
      sequential([
        L.dense({ units: 6, activation: 'tanh', inputShape: [6] }),
        L.reshape({ targetShape: [2, 3] }),
        L.permute({ dims: [2, 1] }),
        L.flatten(),
        L.dense({ units: 3, activation: 'tanh' }),
        L.repeatVector({ n: 2 }),
        L.flatten(),
        L.dense({ units: 2 }),
      ]),
  },
  {
    name: 'padding, cropping, upsampling 2-D',
    covers: ['ZeroPadding2D', 'Cropping2D', 'UpSampling2D'],
    input: [4, 4, 2],
    build: () =>
      sequential([
        L.conv2d({ filters: 2, kernelSize: 2, activation: 'tanh', inputShape: [4, 4, 2] }),
        L.zeroPadding2d({
          padding: [
            [1, 2],
            [0, 1],
          ],
        }),
        L.cropping2D({
          cropping: [
            [0, 1],
            [1, 1],
          ],
        }),
        L.upSampling2d({ size: [2, 1] }),
        L.conv2d({ filters: 2, kernelSize: 2, activation: 'tanh' }),
        L.flatten(),
        L.dense({ units: 2 }),
      ]),
  },
  {
    name: 'padding, cropping, upsampling 1-D (2-D twins, rewritten)',
    covers: ['ZeroPadding1D', 'Cropping1D', 'UpSampling1D'],
    input: [6, 3],
    build: () =>
      sequential([
        L.conv1d({ filters: 3, kernelSize: 2, activation: 'tanh', inputShape: [6, 3] }),
        ...viaImage('pad', 5, 3, 8, L.zeroPadding2d({ padding: [[1, 2] as [number, number], [0, 0] as [number, number]] })),
        ...viaImage('crop', 8, 3, 7, L.cropping2D({ cropping: [[1, 0] as [number, number], [0, 0] as [number, number]] })),
        ...viaImage('up', 7, 3, 14, L.upSampling2d({ size: [2, 1] })),
        L.conv1d({ filters: 2, kernelSize: 2, activation: 'tanh' }),
        L.flatten(),
        L.dense({ units: 2 }),
      ]),
    rewrite: (topology) => {
      replaceLayers('pad_in', 'pad_out', { class_name: 'ZeroPadding1D', config: { name: 'pad', padding: [1, 2] } })(topology);
      replaceLayers('crop_in', 'crop_out', { class_name: 'Cropping1D', config: { name: 'crop', cropping: [1, 0] } })(topology);
      replaceLayers('up_in', 'up_out', { class_name: 'UpSampling1D', config: { name: 'up', size: 2 } })(topology);
    },
  },
];
