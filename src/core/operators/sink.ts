import { RecordFunctionError } from "../errors.js";
import type { JsonValue } from "../keys.js";
import type { Sink, SinkWriter, TaskContext } from "../interfaces.js";
import { countsFor, type FusedOperator } from "./operator.js";

/** `writeTo(sink)`: each task writes its records through a writer of its own; the job commits them. */
export const sinkOperator: FusedOperator<"sink"> = {
  placement: "output",
  describe: (node) => `write to ${node.sink.name}`,
  open(node, _next, runtime) {
    const counts = countsFor(node, runtime);
    const { id } = node;
    const output = new SinkOutput(node.sink, runtime.taskContext, node.name);
    return {
      process(value) {
        counts[id]!++;
        runtime.metrics.recordsOut++;
        output.push(value);
      },
      flush: (force) => output.flush(force ? 0 : runtime.batchSize),
      close: async () => ({ sinkMessages: await output.close() }),
      abort: () => output.abort(),
    };
  },
};

/** Buffers a sink's records and writes them in batches; opens the writer at the first record. */
export class SinkOutput {
  private buffer: unknown[] = [];
  private writer: SinkWriter<unknown> | undefined;

  constructor(
    private readonly sink: Sink<unknown>,
    private readonly taskContext: TaskContext,
    /** The transform that writes, named when a function the sink was given fails on a record. */
    private readonly transformName = `write(${sink.name})`,
  ) {}

  push(value: unknown): void {
    this.buffer.push(value);
  }

  async flush(threshold: number): Promise<void> {
    if (this.buffer.length === 0 || this.buffer.length < threshold) return;
    const records = this.buffer;
    this.buffer = [];
    this.writer ??= await this.sink.openWriter(this.taskContext);
    try {
      await this.writer.write(records);
    } catch (error) {
      throw error instanceof RecordFunctionError ? error.asTransformError(this.transformName) : error;
    }
  }

  async close(): Promise<{ sink: string; message: JsonValue }[]> {
    await this.flush(0);
    if (!this.writer) return [];
    const message = await this.writer.close();
    return [{ sink: this.sink.name, message }];
  }

  async abort(): Promise<void> {
    this.buffer = [];
    await this.writer?.abort().catch(() => undefined);
  }
}
