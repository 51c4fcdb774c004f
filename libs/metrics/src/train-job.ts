import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import {
  buildModel,
  Evaluator,
  InputError,
  layoutSize,
  loadData,
  loadModelRef,
  modelOptionsOf,
  checkSampleShape,
  modelObjective,
  PACKAGE_VERSION,
  PlannedPreparation,
  saveModel,
  selectBackend,
  stringifyResult,
  targetMatrix,
  UnitCancelled,
  train,
  type BackendInfo,
  type Checkpoint,
  type Dataset,
  type DataProvenance,
  type JobHandler,
  type LoadedModel,
  type LossName,
  type RefResolver,
  type Timings,
  type TrainSpec,
} from '@landscape/core';
import { renderLossCurveSvg } from './loss-curve';
import { flatOrder, type FlatOrderEntry } from './trajectory-input';

/**
 * Job kind `train`: minibatch SGD (with momentum) or Adam from a model's weights or a seeded built-in
 * architecture, recording a checkpoint every epoch or every k steps. One unit: training is sequential.
 * Writes trajectory.json (the input format of the `trajectory` kind), the final model, a loss-curve SVG. The
 * trajectory starts with the initial weights as checkpoint 0 (step 0, epoch 0, its loss over the whole training
 * set), so every path drawn from it begins where training began.
 */
export interface PreparedTrain {
  model: LoadedModel;
  data: Dataset;
  /** What the result says about the model: the ref, or the built-in architecture and its seed. */
  modelRecord: { ref: string; name: string; parameters: number; architecture?: unknown };
  stepsPerEpoch: number;
  checkpointCount: number;
}

/** One unit's result: plain JSON, so it can travel through the queue. */
export interface TrainUnitResult {
  steps: number[];
  epochs: number[];
  losses: number[];
  checkpoints: number[][];
  backend: BackendInfo;
  seconds: number;
}

export interface TrajectoryFile {
  checkpoints: number[][];
  losses: number[];
  steps: number[];
  epochs: number[];
  flat_order: FlatOrderEntry[];
}

export interface TrainResult {
  kind: 'train';
  label?: string;
  optimizer: { type: 'sgd' | 'adam'; learningRate: number; momentum?: number };
  epochs: number;
  batchSize: number;
  checkpointEvery: number | 'epoch';
  seeds: { init?: number; order: number };
  steps: number[];
  losses: number[];
  finalLoss: number;
  /** Checkpoints recorded (= points, so every result kind reports how much it computed). */
  points: number;
  pointsComputed: number;
  files: { trajectory: string; model: string; lossCurve: string };
  version: string;
  backend: string;
  backendDetail: BackendInfo;
  threads: number;
  dtype: 'float32';
  model: PreparedTrain['modelRecord'];
  data: DataProvenance & { n: number };
  lossFunction: LossName;
  timings: Omit<Timings, 'pointsPerSecond'> & { stepsPerSecond: number };
}

const UNIT = 'train';
/** Checkpoints × parameters kept in memory and written as JSON: beyond this, record fewer checkpoints. */
const MAX_CHECKPOINT_NUMBERS = 20_000_000;

export function prepareTrain(spec: TrainSpec, resolve: RefResolver): PreparedTrain {
  const architecture = typeof spec.model === 'string' ? undefined : spec.model;
  const model = architecture ? buildModel(architecture, spec.seed) : loadModelRef(spec.model as string, 'model', resolve, modelOptionsOf(spec));
  const data = loadData(spec.data, resolve);
  const { layout } = model.description;
  checkSampleShape(model.description, data.sampleShape);
  // The objective training uses; checks the labels/targets fit the model before anything runs.
  targetMatrix(spec.loss, data, modelObjective(model.description, spec.loss, 'logits', data.sampleShape).outputUnits, 'data');
  const stepsPerEpoch = Math.ceil(data.n / spec.batchSize);
  const totalSteps = stepsPerEpoch * spec.epochs;
  const recorded = spec.checkpointEvery === 'epoch' ? spec.epochs : Math.floor(totalSteps / spec.checkpointEvery);
  if (recorded < 1) throw new InputError(`is more than the ${totalSteps} training steps: no checkpoint would be recorded`, 'checkpointEvery');
  const checkpointCount = recorded + 1;
  const parameters = layoutSize(layout);
  if (checkpointCount * parameters > MAX_CHECKPOINT_NUMBERS) {
    throw new InputError(`${checkpointCount} checkpoints × ${parameters} parameters is too much to record; checkpoint less often`, 'checkpointEvery');
  }
  return {
    model,
    data,
    modelRecord: architecture
      ? { ref: `built-in ${architecture.type} (seed ${spec.seed})`, name: `built-in ${architecture.type}`, parameters, architecture }
      : { ref: spec.model as string, name: model.description.name, parameters },
    stepsPerEpoch,
    checkpointCount,
  };
}

export async function runTraining(
  spec: TrainSpec,
  prepared: PreparedTrain,
  onWork?: (done: number) => boolean | void,
  backend = spec.backend,
): Promise<TrainUnitResult> {
  const started = performance.now();
  const info = await selectBackend(backend);
  const initial = initialCheckpoint(prepared, spec.loss);
  const checkpoints = train(prepared.model.description, prepared.model.weights, prepared.data, spec.loss, {
    optimizer: spec.optimizer,
    learningRate: spec.learningRate,
    momentum: spec.optimizer === 'sgd' ? spec.momentum : undefined,
    epochs: spec.epochs,
    batchSize: spec.batchSize,
    seed: spec.seed,
    checkpointEvery: spec.checkpointEvery === 'epoch' ? 0 : spec.checkpointEvery,
    onEpoch: (epoch, loss) => {
      if (!Number.isFinite(loss)) throw new InputError(`training diverged in epoch ${epoch} (loss ${loss}); lower it`, 'learningRate');
      // Thrown inside train(), whose finally block frees the variables and the optimizer.
      if (onWork?.(epoch * prepared.stepsPerEpoch) === false) throw new UnitCancelled(UNIT);
    },
  });
  checkpoints.unshift(initial);
  return {
    steps: checkpoints.map((c) => c.step),
    epochs: checkpoints.map((c) => c.epoch),
    losses: checkpoints.map((c) => c.loss),
    checkpoints: checkpoints.map((c) => Array.from(c.weights)),
    backend: info,
    seconds: (performance.now() - started) / 1000,
  };
}

/** Checkpoint 0: the initial weights and their loss over the training set, by the model objective training uses. */
function initialCheckpoint(prepared: PreparedTrain, loss: LossName): Checkpoint {
  const { description, weights } = prepared.model;
  const evaluator = new Evaluator({ model: description, data: prepared.data, loss, output: 'logits', batchSize: 1024 });
  try {
    return { step: 0, epoch: 0, loss: evaluator.evaluate(weights).loss, weights: Float64Array.from(weights) };
  } finally {
    evaluator.dispose();
  }
}

const trainings = new PlannedPreparation<TrainSpec, PreparedTrain>(prepareTrain);

export const trainHandler: JobHandler<TrainSpec, PreparedTrain, TrainUnitResult> = {
  workUnit: 'steps',
  // prepareTrain reads and checks the inputs (plain JavaScript), once for the plan and its first prepare; training
  // happens in the unit.
  plan: (spec, resolve) => [{ id: UNIT, work: trainings.plan(spec, resolve).stepsPerEpoch * spec.epochs }],
  prepare: (spec, resolve) => trainings.prepare(spec, resolve),
  async runUnit(spec, prepared, unitId, context) {
    if (unitId !== UNIT) throw new Error(`no unit ${unitId} in this job`);
    return runTraining(spec, prepared, context.onWork, context.backend);
  },
  async assemble(spec, prepared, results, execution, outDir) {
    const run = results.get(UNIT);
    if (!run) throw new Error('the training unit has no result');
    const { layout } = prepared.model.description;
    mkdirSync(outDir, { recursive: true });
    const trajectory: TrajectoryFile = {
      checkpoints: run.checkpoints,
      losses: run.losses,
      steps: run.steps,
      epochs: run.epochs,
      flat_order: flatOrder(layout),
    };
    writeFileSync(join(outDir, 'trajectory.json'), JSON.stringify(trajectory));
    // The output directory is itself a model directory: result files are flat (distributed result stores keep no folders).
    saveModel(outDir, prepared.model, Float64Array.from(run.checkpoints[run.checkpoints.length - 1]!));
    const title = `${spec.label ?? prepared.model.description.name} — training loss`;
    const subtitle = `${spec.optimizer} lr ${spec.learningRate}${spec.optimizer === 'sgd' ? ` momentum ${spec.momentum}` : ''} · batch ${spec.batchSize} · ${spec.epochs} epochs · seed ${spec.seed}`;
    writeFileSync(join(outDir, 'loss.svg'), renderLossCurveSvg(run.steps, run.losses, { title, subtitle }));
    writeFileSync(
      join(outDir, 'result.csv'),
      ['step,epoch,loss', ...run.steps.map((step, i) => `${step},${run.epochs[i]},${run.losses[i]}`)].join('\n') + '\n',
    );
    const finishedAt = new Date();
    const result: TrainResult = {
      kind: 'train',
      ...(spec.label ? { label: spec.label } : {}),
      optimizer: { type: spec.optimizer, learningRate: spec.learningRate, ...(spec.optimizer === 'sgd' ? { momentum: spec.momentum } : {}) },
      epochs: spec.epochs,
      batchSize: spec.batchSize,
      checkpointEvery: spec.checkpointEvery,
      seeds: { ...(typeof spec.model === 'string' ? {} : { init: spec.seed }), order: spec.seed },
      steps: run.steps,
      losses: run.losses,
      finalLoss: run.losses[run.losses.length - 1]!,
      points: run.checkpoints.length,
      pointsComputed: run.checkpoints.length,
      files: { trajectory: 'trajectory.json', model: 'model.json', lossCurve: 'loss.svg' },
      version: PACKAGE_VERSION,
      backend: run.backend.name,
      backendDetail: run.backend,
      threads: 1,
      dtype: 'float32',
      model: prepared.modelRecord,
      data: { ...prepared.data.provenance, n: prepared.data.n },
      lossFunction: spec.loss,
      timings: {
        startedAt: execution.startedAt.toISOString(),
        finishedAt: finishedAt.toISOString(),
        prepareSeconds: execution.prepareSeconds,
        evaluateSeconds: execution.evaluateSeconds,
        totalSeconds: (finishedAt.getTime() - execution.startedAt.getTime()) / 1000,
        stepsPerSecond: run.steps[run.steps.length - 1]! / run.seconds,
      },
    };
    writeFileSync(join(outDir, 'result.json'), stringifyResult(result));
    return result;
  },
};
