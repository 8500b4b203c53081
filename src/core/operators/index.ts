// The table of physical operators, one per node kind. Typed over every kind: a kind added to the
// graph without an operator here does not compile, and the planner places nodes by this table.
import type { NodeKind } from "../graph.js";
import { coalesceOperator } from "./coalesce.js";
import { collectOperator } from "./collect.js";
import { filterOperator } from "./filter.js";
import { flatMapOperator } from "./flat-map.js";
import { flattenOperator } from "./flatten.js";
import { lookupOperator } from "./lookup.js";
import { mapOperator } from "./map.js";
import type { Operator } from "./operator.js";
import { shuffleReadOperator } from "./shuffle-read.js";
import { sinkOperator } from "./sink.js";
import { sortOperator } from "./sort.js";
import { sourceOperator } from "./source.js";
import { taggedOperator, withOutputsOperator } from "./with-outputs.js";

export const OPERATORS: { readonly [K in NodeKind]: Operator<K> } = {
  source: sourceOperator,
  shuffle: shuffleReadOperator,
  map: mapOperator,
  flatMap: flatMapOperator,
  filter: filterOperator,
  withOutputs: withOutputsOperator,
  tagged: taggedOperator,
  sort: sortOperator,
  flatten: flattenOperator,
  coalesce: coalesceOperator,
  lookup: lookupOperator,
  sink: sinkOperator,
  collect: collectOperator,
};

/** The operator of a node, typed by its kind. */
export function operatorOf<K extends NodeKind>(kind: K): Operator<K> {
  return OPERATORS[kind];
}
