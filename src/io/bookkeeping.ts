import { SluiceError } from "../core/errors.js";

/**
 * The failure for a damaged record of a pipeline's own bookkeeping (state kept from an earlier
 * run, a table a compaction reads back to rewrite). Input that does not fit is set aside as a
 * rejected record and the run goes on; bookkeeping is not input: set aside, the record would be
 * lost without a word (a compaction removes the file it read, a state file is replaced by what
 * the run kept), and the run would go on from a wrong state. A torn write or a full disk leaves
 * such a record, and nothing sluice writes does.
 */
export function damagedBookkeeping(where: string, reason: string): SluiceError {
  return new SluiceError(
    `${where}: ${reason}: the file holds what this pipeline kept from an earlier run, not input, so the record is not set aside as a rejected one; restore the file, or rebuild the output from the input`,
  );
}
