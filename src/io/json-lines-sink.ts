import type { JsonValue, Sink, SinkWriter, TaskContext } from "../core/index.js";
import { nonJsonIn } from "../core/block-codec.js";
import { describeValue, messageOf, RecordFunctionError, recordPreview, SluiceError } from "../core/errors.js";
import { HIVE_DEFAULT_PARTITION } from "./hive.js";
import type { LakeCommitter, TableDisposition } from "./lake-committer.js";
import { openStagedFile, type StagedFile, type WrittenFile, writeStaged } from "./staging.js";
import { forEachInLanes } from "./in-lanes.js";
import { requestsAtOnce } from "./s3.js";
import { readsOnlyWhatItHolds } from "../core/module-state.js";

export interface JsonLinesTableOptions<T> {
  /** In a lake's `update` mode: `append` (the default) adds the run's files, `replace` swaps the table. */
  readonly disposition?: TableDisposition;
  /**
   * The folder each record goes to within the table (`day=2018-11-05`), so that a reader can take
   * only the folders it needs. Default: the table's own folder.
   */
  readonly partitionOf?: (record: T) => string;
}

/** A JSON-lines table of a lake (rejected records, a pipeline's state, any records as text). */
export class JsonLinesTableSink<T> implements Sink<T> {
  constructor(
    readonly name: string,
    readonly committer: LakeCommitter,
    private readonly options: JsonLinesTableOptions<T> = {},
  ) {
    committer.register(name, undefined, options.disposition);
  }

  async openWriter(context: TaskContext): Promise<SinkWriter<T>> {
    const name = `part-${context.taskId}-${context.runId}.jsonl`;
    const { root, s3 } = this.committer;
    const partitionOf = this.options.partitionOf;
    const files = new Map<string, { staged: StagedFile; rows: number }>();
    const fileOf = async (partition: string) => {
      let file = files.get(partition);
      if (!file) {
        const path = partition === "" ? name : `${partition}/${name}`;
        file = { staged: await openStagedFile(root, context.runId, this.name, path, s3), rows: 0 };
        files.set(partition, file);
      }
      return file;
    };
    const byPartition = (records: readonly T[]): Map<string, readonly T[]> => {
      if (!partitionOf) return new Map([["", records]]);
      const groups = new Map<string, T[]>();
      for (const record of records) {
        let partition: string;
        try {
          partition = partitionOf(record);
        } catch (error) {
          throw new RecordFunctionError(`record ${recordPreview(record)}`, error);
        }
        const group = groups.get(partition);
        if (group) group.push(record);
        else groups.set(checkedPartition(this.name, partition), [record]);
      }
      return groups;
    };
    return {
      write: async (records) => {
        for (const [partition, group] of byPartition(records)) {
          const file = await fileOf(partition);
          const text = `${group.map(lineOf).join("\n")}\n`;
          file.rows += group.length;
          await writeStaged(file.staged.stream, text);
        }
      },
      // Several files at a time: on S3 each close is a round trip or two, and a task of a state
      // kept by day holds a file for every day its records fall on.
      close: async () => {
        const open = [...files];
        const written: WrittenFile[] = new Array(open.length);
        await forEachInLanes(open, requestsAtOnce(s3), async ([partition, file], index) => {
          written[index] = {
            table: this.name,
            partition,
            rows: file.rows,
            staged: await file.staged.close(),
          };
        });
        return written as unknown as JsonValue;
      },
      abort: async () => {
        await forEachInLanes([...files.values()], requestsAtOnce(s3), (file) => file.staged.abort());
      },
    };
  }
}

/**
 * A folder `partitionOf` gave, checked the first time a batch meets it: `../x` put a table's
 * records outside it (staged where the commit never looked, so they were lost), and a folder
 * named `_x` or `.x` is one readers skip.
 */
function checkedPartition(table: string, partition: unknown): string {
  if (
    typeof partition === "string" &&
    (partition === "" ||
      partition
        .split("/")
        .every(
          (folder) =>
            folder !== "" && !folder.startsWith(".") && !folder.startsWith("_") && !folder.includes("\\"),
        ))
  )
    return checkedValues(table, partition);
  throw new Error(
    `table '${table}': partitionOf must give a folder path inside the table ("day=2018-11-05", "" for the table's own folder), its folders not empty and not starting with . or _ (readers skip those), and it gave ${describeValue(partition)}`,
  );
}

/**
 * A folder named after what a template string makes of a value that is not there (`day=${r.day}`
 * for a record without `day`): a folder "day=undefined" that holds the records silently. Hive
 * names a null partition value __HIVE_DEFAULT_PARTITION__, which sluice's readers give as null.
 */
function checkedValues(table: string, partition: string): string {
  const folder = partition.split("/").find((name) => /=(undefined|null|NaN|\[object Object\])$/.test(name));
  if (folder === undefined) return partition;
  throw new Error(
    `table '${table}': partitionOf gave the folder '${folder}', the text JavaScript makes of ${folder.slice(folder.indexOf("=") + 1)} in a template: the value it read is absent or not a value; for a null partition value give ${folder.slice(0, folder.indexOf("=") + 1)}${HIVE_DEFAULT_PARTITION}, which readers give as null`,
  );
}

/**
 * A record as one line of JSON. One JSON cannot write (a bigint, a value that holds itself) fails
 * as the writing transform's failure on that record, saying what and where, rather than with
 * JSON.stringify's words and no record.
 */
function lineOf(record: unknown): string {
  try {
    return JSON.stringify(record);
  } catch (error) {
    throw new RecordFunctionError(
      `record ${recordPreview(record)}`,
      new SluiceError(
        `JSON cannot write it: ${nonJsonIn(record) ?? messageOf(error)}; convert it first (a bigint to a number or text, a reference to the object it points at to its id)`,
      ),
    );
  }
}

readsOnlyWhatItHolds(JsonLinesTableSink);
