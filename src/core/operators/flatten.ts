import { type FusedOperator, passThrough } from "./operator.js";

/**
 * `flatten(...)`: the records of all its inputs. Fused into each stage that feeds it, as Beam's
 * fusion does: a flatten of two sources runs, with what follows it, in both sources' stages.
 */
export const flattenOperator: FusedOperator<"flatten"> = {
  placement: "fused",
  describe: () => "flatten",
  open: passThrough,
};
