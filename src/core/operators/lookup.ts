import { checkCrossingKey, encodeCrossing } from "../blocks.js";
import { keyValuePair } from "../keys.js";
import { lookupTable } from "../lookup-tables.js";
import type { TaskOutputs } from "../task.js";
import { countsFor, type FusedOperator, type RunningOperator } from "./operator.js";

/** The table input of a lookup: collected whole in the stage that makes it, not fused. */
const TABLE_INPUT = 1;

/**
 * `lookup(table)`: each keyed record `[key, value]` becomes `[key, value, values of key in the
 * table]`. The table is made by earlier stages and handed whole to each task (a broadcast join).
 */
export const lookupOperator: FusedOperator<"lookup"> = {
  placement: "fused",
  wholeInputs: [TABLE_INPUT],
  describe: () => "lookup (its table given whole to every task)",
  async open(node, next, runtime) {
    const counts = countsFor(node, runtime);
    // Built once per thread and run, not once per task: the point of handing a table whole.
    const table = await lookupTable(runtime.taskContext.runId, node.id, runtime.tableBlocks(node.id));
    const { id } = node;
    const input = () => `the records going into '${node.name}'`;
    return {
      process(value) {
        const [key, keyed] = keyValuePair(value, input);
        // Keys match by their JSON value, as the table's did: a Map or undefined would match
        // whatever key JSON makes of it ({} or null), silently.
        checkCrossingKey(key, input());
        counts[id]!++;
        next([key, keyed, table.valuesOf(key)]);
      },
    };
  },
};

/** The write side of a lookup's table, in the stage that makes it: every record, kept for the lookup's stage. */
export function openTableWrite(lookupNode: number, name: string): RunningOperator {
  const records: unknown[] = [];
  const table = () => `the records of the table given to '${name}'`;
  return {
    process(value) {
      records.push(keyValuePair(value, table));
    },
    async close(): Promise<Partial<TaskOutputs>> {
      return {
        collected: [
          { nodeId: lookupNode, block: encodeCrossing(records, `the records collected from '${name}'`) },
        ],
      };
    },
  };
}
