import type { Architecture } from './model-builder';
import type { JobSpec, SpecIssue } from './spec';

/**
 * How much work a job may ask for. These are the deployment's settings (the API's environment, the CLI's
 * flags), never spec fields, so a client cannot raise them. Everything is counted from the spec's numbers alone,
 * before anything is allocated: a grid of 1e9 steps is refused, not built.
 */
export interface ResourceLimits {
  /** Grid points of one job (all methods of a trajectory job together). */
  maxPoints: number;
  /** Units of work (queue jobs) of one job. */
  maxUnits: number;
  /** Smallest unit a client may request with `tiles` (a smaller grid is one unit of its own size). */
  minUnitPoints: number;
  /** Parameters of a built-in architecture a train job builds. */
  maxParameters: number;
  /** Hessian-vector products a hessian job asks for explicitly (density runs × steps, trace samples). */
  maxHvpProducts: number;
  /** Training epochs (train jobs, the trajectory autoencoder, UMAP). */
  maxEpochs: number;
}

export const DEFAULT_LIMITS: ResourceLimits = {
  maxPoints: 40_000,
  maxUnits: 1024,
  minUnitPoints: 16,
  maxParameters: 50_000_000,
  maxHvpProducts: 200_000,
  maxEpochs: 20_000,
};

/** Weights of a k×k convolution (with bias) and of a BatchNormalization (γ, β and the two moving statistics). */
const convWeights = (kernel: number, inputs: number, filters: number, bias = true): number => kernel * kernel * inputs * filters + (bias ? filters : 0);
const batchNormWeights = (channels: number): number => 4 * channels;

/** Weights of a built-in architecture, from its numbers (the same arithmetic as buildModel, without building). */
export function architectureParameters(architecture: Architecture): number {
  switch (architecture.type) {
    case 'resnet': {
      const { depth, width, input, outputs, skip } = architecture;
      let count = convWeights(3, input[2], width) + batchNormWeights(width);
      let channels = width;
      for (let stage = 1; stage <= 3; stage++) {
        const filters = width * 2 ** (stage - 1);
        const blocks = (depth - 2) / 6;
        // Every block of a stage has the same weights but the first, which may change the channel count.
        const block = (from: number, first: boolean): number =>
          convWeights(3, from, filters) +
          convWeights(3, filters, filters) +
          2 * batchNormWeights(filters) +
          (skip && ((stage > 1 && first) || from !== filters) ? convWeights(1, from, filters) : 0);
        count += block(channels, true) + (blocks - 1) * block(filters, false);
        channels = filters;
      }
      return count + (channels + 1) * outputs;
    }
    case 'mobilenet': {
      const { input, stem, blocks, outputs } = architecture;
      let count = convWeights(3, input[2], stem, false) + batchNormWeights(stem);
      let channels = stem;
      for (const { filters } of blocks) {
        count += 9 * channels + batchNormWeights(channels) + convWeights(1, channels, filters, false) + batchNormWeights(filters);
        channels = filters;
      }
      return count + (channels + 1) * outputs;
    }
    default: {
      let count = 0;
      let inputs: number;
      if (architecture.type === 'mlp') {
        inputs = architecture.input.reduce((a, b) => a * b, 1);
      } else {
        let [h, w, c] = architecture.input;
        for (const conv of architecture.conv) {
          count += convWeights(conv.kernel, c, conv.filters);
          h = Math.max(1, h - conv.kernel + 1);
          w = Math.max(1, w - conv.kernel + 1);
          c = conv.filters;
          if (conv.pool) [h, w] = [Math.max(1, Math.floor(h / 2)), Math.max(1, Math.floor(w / 2))];
        }
        inputs = h * w * c;
      }
      for (const units of [...architecture.hidden.map((layer) => layer.units), architecture.outputs]) {
        count += (inputs + 1) * units;
        inputs = units;
      }
      return count;
    }
  }
}

/** Grid points a job evaluates, or undefined for kinds without a grid. Products of spec numbers: never allocates. */
export function specPoints(spec: JobSpec): number | undefined {
  switch (spec.kind) {
    case 'line':
      return spec.grid.x[2];
    case 'surface':
    case 'curvature':
      return spec.grid.x[2] * spec.grid.y[2];
    case 'trajectory':
      return spec.grid.steps[0] * spec.grid.steps[1] * spec.methods.length;
    default:
      return undefined;
  }
}

/** Units a grid job with explicit `tiles` is split into (the default tiling stays within the limits by design). */
function tileIssues(spec: JobSpec, limits: Partial<ResourceLimits>): SpecIssue[] {
  if (spec.kind !== 'line' && spec.kind !== 'surface' && spec.kind !== 'curvature') return [];
  if (!spec.tiles) return [];
  const nx = spec.grid.x[2];
  const ny = spec.kind === 'line' ? 1 : spec.grid.y[2];
  const unitPoints = Math.min(spec.tiles.x, nx) * Math.min(spec.tiles.y, ny);
  const units = Math.ceil(nx / spec.tiles.x) * Math.ceil(ny / spec.tiles.y);
  const issues: SpecIssue[] = [];
  if (limits.minUnitPoints !== undefined && unitPoints < Math.min(limits.minUnitPoints, nx * ny)) {
    issues.push({ field: 'tiles', reason: `tiles of ${unitPoints} points are below the minimum of ${limits.minUnitPoints} points per tile` });
  }
  if (limits.maxUnits !== undefined && units > limits.maxUnits) {
    issues.push({ field: 'tiles', reason: `${units} tiles exceed the limit of ${limits.maxUnits} units per job; use larger tiles` });
  }
  return issues;
}

function exceeds(field: string, what: string, value: number, limit: number | undefined): SpecIssue[] {
  if (limit === undefined || value <= limit) return [];
  return [{ field, reason: `${value} ${what} exceed the limit of ${limit}` }];
}

/** Every way a valid spec asks for more than the limits allow; empty when it fits. Limits left out are not checked. */
export function checkLimits(spec: JobSpec, limits: Partial<ResourceLimits>): SpecIssue[] {
  const issues: SpecIssue[] = [];
  const points = specPoints(spec);
  if (points !== undefined) issues.push(...exceeds(spec.kind === 'trajectory' ? 'grid.steps' : 'grid', 'points', points, limits.maxPoints));
  issues.push(...tileIssues(spec, limits));
  if (spec.kind === 'train') {
    if (typeof spec.model === 'object') issues.push(...exceeds('model', 'parameters', architectureParameters(spec.model), limits.maxParameters));
    issues.push(...exceeds('epochs', 'epochs', spec.epochs, limits.maxEpochs));
  }
  if (spec.kind === 'trajectory') {
    if (spec.methods.includes('autoencoder')) issues.push(...exceeds('autoencoder.epochs', 'epochs', spec.autoencoder.epochs, limits.maxEpochs));
    if (spec.methods.includes('umap') && spec.umap.nEpochs !== undefined)
      issues.push(...exceeds('umap.nEpochs', 'epochs', spec.umap.nEpochs, limits.maxEpochs));
  }
  if (spec.kind === 'hessian') {
    if (spec.density)
      issues.push(...exceeds('density', 'Hessian-vector products (runs × steps)', spec.density.runs * spec.density.steps, limits.maxHvpProducts));
    if (spec.trace) issues.push(...exceeds('trace.samples', 'Hessian-vector products', spec.trace.samples, limits.maxHvpProducts));
  }
  return issues;
}
