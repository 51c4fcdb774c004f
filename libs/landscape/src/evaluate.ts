import * as tf from '@tensorflow/tfjs-core';
import type { Dataset } from './data';
import { coefficientsAt, type Grid } from './grid';
import { correctSum, lossSum, targetMatrix, type LossName, type OutputKind } from './losses';
import { forward, toTensors, type ModelDescription } from './model';
import type { Tile, TileResult } from './tiles';
import { combine } from './weights';

/** Everything needed to evaluate the loss at a parameter vector; plain data, so it can cross thread boundaries. */
export interface EvaluationSetup {
  model: ModelDescription;
  data: Dataset;
  loss: LossName;
  output: OutputKind;
  /** Samples per forward pass; bounds memory. */
  batchSize: number;
}

export interface PointValue {
  loss: number;
  /** null for regression losses. */
  accuracy: number | null;
}

interface Batch {
  x: tf.Tensor;
  target: tf.Tensor;
}

/**
 * Holds the evaluation set on the backend (uploaded once) and evaluates parameter vectors one at a time.
 * Each call uploads the weights, runs every batch, and reads back one loss and one accuracy sum.
 */
export class Evaluator {
  private readonly batches: Batch[];
  private readonly fromLogits: boolean;
  readonly outputUnits: number;

  constructor(readonly setup: EvaluationSetup) {
    const { model, data } = setup;
    const last = [...model.layers].reverse().find((layer) => layer.kind === 'dense' || layer.kind === 'conv2d');
    const kernelShape = last ? model.layout[last.kernel]!.shape : [];
    this.outputUnits = kernelShape[kernelShape.length - 1] ?? 1;
    // A final softmax/sigmoid is skipped and the loss computed from its input, which is exact and stable.
    this.fromLogits = setup.output === 'logits' || model.finalActivation === 'softmax' || model.finalActivation === 'sigmoid';
    const targets = targetMatrix(setup.loss, data, this.outputUnits, data.provenance.source);
    const sampleSize = data.sampleShape.reduce((a, b) => a * b, 1);
    this.batches = [];
    for (let start = 0; start < data.n; start += setup.batchSize) {
      const end = Math.min(data.n, start + setup.batchSize);
      this.batches.push({
        x: tf.tensor(data.x.subarray(start * sampleSize, end * sampleSize), [end - start, ...data.sampleShape], 'float32'),
        target: tf.tensor2d(targets.subarray(start * this.outputUnits, end * this.outputUnits), [end - start, this.outputUnits], 'float32'),
      });
    }
  }

  /** Loss (mean over samples) and accuracy at the flat parameter vector `weights`. */
  evaluate(weights: Float64Array): PointValue {
    const { model, loss } = this.setup;
    const outputKind: OutputKind = this.fromLogits ? 'logits' : 'probabilities';
    const [lossTotal, correctTotal] = tf.tidy(() => {
      const params = toTensors(weights, model.layout);
      let lossAcc: tf.Tensor = tf.scalar(0);
      let correctAcc: tf.Tensor | null = null;
      for (const batch of this.batches) {
        const output = forward(model, params, batch.x, { stopBeforeFinalActivation: this.fromLogits && this.setup.output === 'probabilities' });
        lossAcc = tf.add(lossAcc, lossSum(loss, output, batch.target, outputKind));
        const correct = correctSum(loss, output, batch.target, outputKind);
        if (correct) correctAcc = correctAcc ? tf.add(correctAcc, correct) : correct;
      }
      return correctAcc ? [lossAcc, correctAcc] : [lossAcc];
    });
    const n = this.setup.data.n;
    const lossValue = lossTotal!.dataSync()[0]! / n;
    const accuracy = correctTotal ? correctTotal.dataSync()[0]! / n : null;
    lossTotal!.dispose();
    correctTotal?.dispose();
    return { loss: lossValue, accuracy };
  }

  dispose(): void {
    for (const batch of this.batches) {
      batch.x.dispose();
      batch.target.dispose();
    }
    this.batches.length = 0;
  }
}

/** The points of a landscape: θ(point) = origin + Σ_k coefficient_k · directions[k]. Plain data. */
export interface LandscapePlan {
  origin: Float64Array;
  directions: Float64Array[];
  grid: Grid;
}

/**
 * Evaluates every point of a tile (y outer, x inner). `onPoint` is called after each point (progress, and the
 * cancellation check: returning false stops the tile early, which then throws).
 */
export function evaluateTile(evaluator: Evaluator, plan: LandscapePlan, tile: Tile, onPoint?: (done: number) => boolean | void): TileResult {
  const loss: number[] = [];
  const accuracy: (number | null)[] = [];
  const weights = new Float64Array(plan.origin.length);
  for (let iy = tile.y0; iy < tile.y1; iy++) {
    for (let ix = tile.x0; ix < tile.x1; ix++) {
      combine(plan.origin, coefficientsAt(plan.grid, ix, iy), plan.directions, weights);
      const value = evaluator.evaluate(weights);
      loss.push(value.loss);
      accuracy.push(value.accuracy);
      if (onPoint?.(loss.length) === false) throw new TileCancelled(tile.id);
    }
  }
  return { tileId: tile.id, loss, accuracy };
}

export class TileCancelled extends Error {
  constructor(tileId: string) {
    super(`tile ${tileId} stopped: job cancelled`);
    this.name = 'TileCancelled';
  }
}
