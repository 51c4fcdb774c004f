import * as tf from '@tensorflow/tfjs-core';
import { withSavedResults, ZERO_GRADIENT_KERNELS } from './second-order';

/**
 * A gradient kept together with the tape that computed it, so that vector-Jacobian products through it can be
 * taken any number of times: what PyTorch's `retain_graph=True` gives PyHessian. For a gradient g(θ) of a scalar
 * loss, the product with a tangent t is Jᵀ_g·t = H·t (H symmetric): one backward pass through the recorded
 * forward and backward ops, instead of running both again for every Hessian-vector product.
 *
 * tfjs has no public API for this; it is built on the engine's tape the way tf.grads itself uses it: the tape is
 * recorded while tf.grads runs inside an outer startTape/endTape (so the backward ops are taped too, as for any
 * higher-order gradient), then walked backward here. The saved tensors of every tape node are kept (tfjs keeps
 * them alive until the outer gradient frees them) and freed by `dispose`.
 */

interface TapeNode {
  kernelName: string;
  inputs: Record<string, tf.Tensor>;
  outputs: tf.Tensor[];
  saved?: tf.Tensor[];
  gradient?: (dys: (tf.Tensor | null)[]) => Record<string, () => tf.Tensor>;
}

interface EngineInternals {
  startTape(): void;
  endTape(): void;
  state: { activeTape: TapeNode[] | null; gradientDepth: number };
}

export class RetainedGradient {
  private constructor(
    /** The nodes between the variables and the gradient, in execution order. */
    private readonly tape: TapeNode[],
    private readonly variables: readonly tf.Tensor[],
    /** The gradient with respect to each variable. */
    private readonly gradients: tf.Tensor[],
    /** Per tape node, the input names that depend on the variables (the only ones differentiated). */
    private readonly differentiable: string[][],
    /** What the gradients compute from saved tensors alone (max-pool masks): from the recording on, kept. */
    private readonly savedResults: Map<string, tf.Tensor>,
  ) {}

  /** Records ∇f at `variables` with its tape. Call outside any gradient and outside tf.tidy. */
  static of(f: (...variables: tf.Tensor[]) => tf.Scalar, variables: readonly tf.Tensor[]): RetainedGradient {
    const engine = tf.engine() as unknown as EngineInternals;
    if (engine.state.gradientDepth !== 0) throw new Error('RetainedGradient.of must not run inside a gradient');
    engine.startTape();
    const savedResults = new Map<string, tf.Tensor>();
    let gradients: tf.Tensor[];
    try {
      gradients = withSavedResults(savedResults, () => tf.tidy(() => tf.grads(f)([...variables])));
    } finally {
      engine.endTape();
    }
    const tape = engine.state.activeTape ?? [];
    engine.state.activeTape = null;
    // Forward reachability from the variables: which tensors depend on them. A piecewise-constant kernel's output
    // (a max-pool mask) does not: its gradient is zero, so the products that would flow through it are skipped.
    const dependent = new Set(variables.map((v) => v.id));
    const differentiable = tape.map((node) => {
      if (ZERO_GRADIENT_KERNELS.has(node.kernelName)) return [];
      const names = Object.keys(node.inputs).filter((name) => dependent.has(node.inputs[name]!.id));
      if (names.length) node.outputs.forEach((output) => dependent.add(output.id));
      return names;
    });
    return new RetainedGradient(tape, variables, gradients, differentiable, savedResults);
  }

  /** Bytes the tape keeps alive (its nodes' saved tensors). */
  get bytes(): number {
    return this.tape.reduce((sum, node) => sum + (node.saved ?? []).reduce((bytes, tensor) => bytes + tensor.size * (tensor.dtype === 'bool' ? 1 : 4), 0), 0);
  }

  /** ∇f at the recorded point (one tensor per variable, owned by this object). */
  get gradient(): readonly tf.Tensor[] {
    return this.gradients;
  }

  /** Σ_i ∂⟨g_i, t_i⟩/∂variables: H·t for tangents t (one per variable). Call inside tf.tidy. */
  vjp(tangents: readonly tf.Tensor[]): tf.Tensor[] {
    const accumulated = new Map<number, tf.Tensor>();
    const add = (id: number, dx: tf.Tensor): void => {
      const current = accumulated.get(id);
      accumulated.set(id, current ? tf.add(current, dx) : dx);
    };
    this.gradients.forEach((g, i) => add(g.id, tangents[i]!));
    withSavedResults(this.savedResults, () => {
      for (let n = this.tape.length - 1; n >= 0; n--) {
        const node = this.tape[n]!;
        const names = this.differentiable[n]!;
        if (!names.length) continue;
        const dys = node.outputs.map((output) => accumulated.get(output.id) ?? null);
        if (dys.every((dy) => dy === null)) continue;
        if (!node.gradient) throw new Error(`no gradient for ${node.kernelName} on the retained tape`);
        const inputGradients = node.gradient(dys);
        for (const name of names) add(node.inputs[name]!.id, inputGradients[name]!());
      }
    });
    return this.variables.map((v) => accumulated.get(v.id) ?? tf.zerosLike(v));
  }

  dispose(): void {
    tf.dispose([...this.savedResults.values()]);
    this.savedResults.clear();
    for (const node of this.tape) node.saved?.forEach((tensor) => tensor.dispose());
    this.tape.length = 0;
    tf.dispose(this.gradients);
  }
}
