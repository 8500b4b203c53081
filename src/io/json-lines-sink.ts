import type { JsonValue, Sink, SinkWriter, TaskContext } from "../core/index.js";
import type { LakeCommitter, TableDisposition } from "./lake-committer.js";
import { openStagedFile, type StagedFile, type WrittenFile } from "./staging.js";

/** A JSON-lines table of a lake (rejected records, or any records a user wants as text). */
export class JsonLinesTableSink<T> implements Sink<T> {
  constructor(
    readonly name: string,
    readonly committer: LakeCommitter,
    disposition?: TableDisposition,
  ) {
    committer.register(name, undefined, disposition);
  }

  async openWriter(context: TaskContext): Promise<SinkWriter<T>> {
    const name = `part-${context.taskId}-${context.runId}.jsonl`;
    const { root, s3 } = this.committer;
    let staged: StagedFile | undefined;
    let rows = 0;
    return {
      write: async (records) => {
        staged ??= await openStagedFile(root, context.runId, this.name, name, s3);
        const text = `${records.map((record) => JSON.stringify(record)).join("\n")}\n`;
        rows += records.length;
        if (!staged.stream.write(text)) await new Promise((resolve) => staged!.stream.once("drain", resolve));
      },
      close: async () => {
        if (!staged) return [];
        const written: WrittenFile = { table: this.name, partition: "", rows, staged: await staged.close() };
        return [written] as unknown as JsonValue;
      },
      abort: async () => {
        await staged?.abort();
      },
    };
  }
}
