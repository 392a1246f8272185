/**
 * Typed helpers over tf.customGrad for ops with their own backward rule (guided, excitation, ...): the
 * forward value comes from `forward`, the gradient from `backward`, which sees dy, the inputs and the output.
 * Tensors passed to backward are saved by tfjs and freed by it after the backward pass.
 */
import { type Tensor, tf } from "./tf.ts";

type Backward<N extends number> = (dy: Tensor, inputs: Tensor[] & { length: N }, output: Tensor) => Tensor[];

/**
 * What the backward reads besides dy: tfjs copies every saved tensor (an Identity kernel each), so a backward that
 * needs neither the inputs nor the output should say "none", one that needs only the inputs "inputs". Unsaved
 * tensors reach the backward as empty slots.
 */
export type Saved = "all" | "inputs" | "none";

/** An op of `arity` tensor inputs with the given forward and backward. */
export function withBackward<N extends number>(
  arity: N,
  forward: (...inputs: Tensor[]) => Tensor,
  backward: Backward<N>,
  saved: Saved = "all",
): (...inputs: Tensor[]) => Tensor {
  const op = tf.customGrad(
    ((...args: (Tensor | tf.GradSaveFunc)[]) => {
      const save = args[arity] as tf.GradSaveFunc;
      const inputs = args.slice(0, arity) as Tensor[];
      const value = forward(...inputs);
      save(saved === "all" ? [...inputs, value] : saved === "inputs" ? inputs : []);
      return {
        value,
        gradFunc: (dy: Tensor | Tensor[], saved: Tensor[]) =>
          backward(dy as Tensor, saved.slice(0, arity) as Tensor[] & { length: N }, saved[arity]),
      };
    }) as unknown as Parameters<typeof tf.customGrad>[0],
  );
  return (...inputs: Tensor[]) => {
    if (inputs.length !== arity) {
      throw new Error(`withBackward: expected ${arity} inputs, got ${inputs.length}`);
    }
    return op(...inputs);
  };
}

/** The identity in the forward pass, a zero gradient in the backward pass (tf has no stop_gradient). */
export const stopGradient: (x: Tensor) => Tensor = (() => {
  const op = withBackward(1, (x) => tf.clone(x), (dy) => [tf.zerosLike(dy)], "none");
  return (x: Tensor) => op(x);
})();
