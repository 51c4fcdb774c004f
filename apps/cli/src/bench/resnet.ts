import { spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import * as tf from '@tensorflow/tfjs-core';
import * as tfl from '@tensorflow/tfjs-layers';
import {
  architectureSchema,
  buildModel,
  coreJobKinds,
  forward,
  loadModel,
  parseJobSpec,
  runEmbedded,
  saveModel,
  selectBackend,
  syntheticDataset,
  toTensors,
  type LandscapeResult,
  type ModelJson,
  type SurfaceSpec,
} from '@landscape/core';
import { machine } from './core';
import { report } from './measure';

/**
 * ResNet-20 (seeded, CIFAR-sized) on seeded 32×32×3 images: landscape's surface evaluation against tfjs-layers' own
 * `predict` on the same saved model, backend (wasm, 1 thread) and batch size. Each side runs in a fresh child
 * process so its peak RSS is its own. Sample counts: BENCH_RESNET_SAMPLES (comma-separated, default 1000).
 */
const DATA = { synthetic: 'images', seed: 3, classes: 10, shape: [32, 32, 3] } as const;
const STEPS = 3;

function surfaceSpec(modelDir: string, samples: number): SurfaceSpec {
  return parseJobSpec({
    kind: 'surface',
    model: modelDir,
    data: { ...DATA, n: samples },
    loss: 'sparse_categorical_crossentropy',
    backend: 'wasm',
    threads: 1,
    directions: { x: { seed: 1 }, y: { seed: 2 } },
    grid: { x: [-1, 1, STEPS], y: [-1, 1, STEPS] },
  }) as SurfaceSpec;
}

/** The process's peak resident set so far (maxRSS is in KiB). */
const peakRssBytes = (): number => process.resourceUsage().maxRSS * 1024;

/**
 * One forward pass of each batch shape the job will see, as predict's side has its warm-up pass: the wasm
 * backend sets up its convolution operators (and grows its heap) on the first pass of each shape, which would
 * otherwise be charged to the surface's first point only.
 */
function warmUp(modelDir: string, samples: number, batchSize: number): void {
  const { description, weights } = loadModel(modelDir);
  const params = toTensors(weights, description.layout);
  for (const rows of new Set([Math.min(samples, batchSize), samples % batchSize || batchSize])) {
    tf.tidy(() => forward(description, params, tf.zeros([rows, ...DATA.shape]), { fused: true }).dataSync());
  }
  tf.dispose(params);
}

/** (a) a 3×3 surface through the embedded runner; the centre (0, 0) is the model itself. */
async function landscapeSide(modelDir: string, samples: number): Promise<Record<string, unknown>> {
  const spec = surfaceSpec(modelDir, samples);
  await selectBackend('wasm');
  warmUp(modelDir, samples, spec.evaluation.batchSize);
  const baselineRssBytes = peakRssBytes();
  const out = mkdtempSync(join(tmpdir(), 'landscape-bench-resnet-out-'));
  try {
    const run = (await runEmbedded(coreJobKinds, spec, (ref) => ref, out, { threads: 1, backend: 'wasm' })) as LandscapeResult;
    const loss = run.loss as number[][];
    const centre = (STEPS - 1) / 2;
    return {
      backend: run.backend,
      batchSize: spec.evaluation.batchSize,
      points: run.points,
      seconds: run.timings.evaluateSeconds,
      centreLoss: loss[centre]![centre],
      subspaceUsed: run.evaluation?.subspace.used ?? false,
      baselineRssBytes,
      peakRssBytes: peakRssBytes(),
    };
  } finally {
    rmSync(out, { recursive: true, force: true });
  }
}

/** (b) tfjs-layers loads the saved model.json and predicts every sample; the loss is reduced here in float64. */
async function predictSide(modelDir: string, samples: number): Promise<Record<string, unknown>> {
  const { batchSize } = surfaceSpec(modelDir, samples).evaluation;
  const info = await selectBackend('wasm');
  const baselineRssBytes = peakRssBytes();
  const modelJson = JSON.parse(readFileSync(join(modelDir, 'model.json'), 'utf8')) as ModelJson;
  const model = await tfl.loadLayersModel(
    tf.io.fromMemory({
      modelTopology: modelJson.modelTopology as tf.io.ModelJSON['modelTopology'],
      weightSpecs: modelJson.weightsManifest[0]!.weights as tf.io.WeightsManifestEntry[],
      weightData: new Uint8Array(readFileSync(join(modelDir, 'weights.bin'))).buffer,
    }),
  );
  const data = syntheticDataset({ ...DATA, shape: [...DATA.shape], n: samples });
  if (data.targets.kind !== 'labels') throw new Error('synthetic images have integer labels');
  const labels = data.targets.labels;
  const x = tf.tensor(data.x, [samples, ...data.sampleShape], 'float32');
  const pass = (): Float32Array => {
    const logits = model.predict(x, { batchSize }) as tf.Tensor;
    const values = logits.dataSync() as Float32Array;
    logits.dispose();
    return values;
  };
  let logits = pass(); // warm-up: kernel set-up, as the surface's first point pays it too
  const times: number[] = [];
  for (let i = 0; i < 2; i++) {
    const start = performance.now();
    logits = pass();
    times.push((performance.now() - start) / 1000);
  }
  x.dispose();
  model.dispose();
  const classes = logits.length / samples;
  let total = 0;
  for (let i = 0; i < samples; i++) {
    const row = logits.subarray(i * classes, (i + 1) * classes);
    const max = Math.max(...row);
    const logSum = Math.log(row.reduce((sum, z) => sum + Math.exp(z - max), 0)) + max;
    total += logSum - row[labels[i]!]!;
  }
  return { backend: info.name, batchSize, seconds: Math.min(...times), loss: total / samples, baselineRssBytes, peakRssBytes: peakRssBytes() };
}

function child(side: 'landscape' | 'predict', modelDir: string, samples: number): Record<string, unknown> {
  const run = spawnSync(process.execPath, [__filename, side, modelDir, String(samples)], {
    encoding: 'utf8',
    env: { ...process.env, LOG_LEVEL: 'warn' },
    timeout: 3_600_000,
  });
  if (run.status !== 0) throw new Error(`resnet bench (${side}) failed: ${run.stderr.trim().split('\n').slice(-3).join(' ')}`);
  return JSON.parse(run.stdout.trim().split('\n').pop()!) as Record<string, unknown>;
}

export async function benchResnet(): Promise<void> {
  const sampleCounts = (process.env.BENCH_RESNET_SAMPLES ?? '1000').split(',').map(Number);
  const root = mkdtempSync(join(tmpdir(), 'landscape-bench-resnet-'));
  try {
    const model = buildModel(architectureSchema.parse({ type: 'resnet', depth: 20, width: 16, input: [32, 32, 3], outputs: 10 }), 1);
    const modelDir = join(root, 'model');
    saveModel(modelDir, model);
    for (const samples of sampleCounts) {
      const ours = child('landscape', modelDir, samples);
      const theirs = child('predict', modelDir, samples);
      const secondsPerPoint = Number(ours.seconds) / Number(ours.points);
      const centreLoss = Number(ours.centreLoss);
      const predictLoss = Number(theirs.loss);
      report({
        case: 'resnet20-surface',
        samples,
        parameters: model.weights.length,
        landscape: { ...ours, secondsPerPoint, pointsPerSecond: 1 / secondsPerPoint },
        predict: theirs,
        // > 1: landscape's point is slower than one predict pass; the bound is ≤ 1 (time) and ≤ 2 (memory).
        timeRatio: secondsPerPoint / Number(theirs.seconds),
        memoryRatio: Number(ours.peakRssBytes) / Number(theirs.peakRssBytes),
        centreLossRelativeDifference: Math.abs(centreLoss - predictLoss) / Math.abs(predictLoss),
        ...machine(),
      });
    }
  } finally {
    rmSync(root, { recursive: true, force: true });
  }
}

if (require.main === module) {
  const [side, modelDir, samples] = process.argv.slice(2) as ['landscape' | 'predict', string, string];
  void (side === 'landscape' ? landscapeSide : predictSide)(modelDir, Number(samples)).then((figure) => report(figure));
}
