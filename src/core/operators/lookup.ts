import { encodeCrossing } from "../blocks.js";
import { describeValue, SluiceError } from "../errors.js";
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
    return {
      process(value) {
        const [key, keyed] = pairOf(value, `the records going into '${node.name}'`);
        counts[id]!++;
        next([key, keyed, table.valuesOf(key)]);
      },
    };
  },
};

/** The write side of a lookup's table, in the stage that makes it: every record, kept for the lookup's stage. */
export function openTableWrite(lookupNode: number, name: string): RunningOperator {
  const records: unknown[] = [];
  return {
    process(value) {
      records.push(pairOf(value, `the records of the table given to '${name}'`));
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

/**
 * A record of a lookup's input or table: exactly `[key, value]`. Destructured blindly, a number
 * failed with "not iterable", and a table of bare values with a message about something else.
 */
function pairOf(record: unknown, what: string): readonly [unknown, unknown] {
  if (Array.isArray(record) && record.length === 2) return record as [unknown, unknown];
  throw new SluiceError(
    `${what} must be [key, value] pairs, and one is ${describeValue(record)}: key them first (keyBy, or map to [key, value])`,
  );
}
