import { type FusedOperator, passThrough } from "./operator.js";

/** `coalesce(n)`: the same records; its stage runs in at most `n` tasks (so writes at most `n` files). */
export const coalesceOperator: FusedOperator<"coalesce"> = {
  placement: "fused",
  describe: (node) => `coalesce to at most ${node.partitionCount} task(s)`,
  maxTasks: (node) => node.partitionCount,
  open: passThrough,
};
