import { open, writeFile } from "node:fs/promises";

/**
 * A block: a batch of records encoded as one JSON array in UTF-8. One `JSON.stringify` per batch
 * is far cheaper than a structured clone per record, and the bytes own their ArrayBuffer, so they
 * cross threads by transfer, not by copy.
 */
export type BlockRef =
  | { readonly records: number; readonly byteLength: number; readonly bytes: Uint8Array }
  | {
      readonly records: number;
      readonly byteLength: number;
      readonly file: string;
      readonly offset: number;
    };

const encoder = new TextEncoder();
const decoder = new TextDecoder();

export function encodeBlock(records: readonly unknown[]): BlockRef {
  // TextEncoder gives each block its own ArrayBuffer (Buffer.from may share a pool), which
  // matters because blocks are transferred, and a transfer detaches the whole buffer.
  const bytes = encoder.encode(JSON.stringify(records));
  return { records: records.length, byteLength: bytes.byteLength, bytes };
}

export async function readBlock(block: BlockRef): Promise<unknown[]> {
  if ("bytes" in block) return JSON.parse(decoder.decode(block.bytes)) as unknown[];
  const handle = await open(block.file, "r");
  try {
    const buffer = Buffer.allocUnsafe(block.byteLength);
    await handle.read(buffer, 0, block.byteLength, block.offset);
    return JSON.parse(buffer.toString("utf8")) as unknown[];
  } finally {
    await handle.close();
  }
}

/** Writes in-memory blocks into one file and returns references to their places in it. */
export async function spillBlocks(file: string, blocks: readonly BlockRef[]): Promise<BlockRef[]> {
  const parts: Uint8Array[] = [];
  const spilled: BlockRef[] = [];
  let offset = 0;
  for (const block of blocks) {
    if (!("bytes" in block)) {
      spilled.push(block);
      continue;
    }
    parts.push(block.bytes);
    spilled.push({ records: block.records, byteLength: block.byteLength, file, offset });
    offset += block.byteLength;
  }
  if (parts.length > 0) await writeFile(file, parts);
  return spilled;
}

/** The ArrayBuffers of in-memory blocks, for a transfer list. */
export function transferablesOf(blocks: Iterable<BlockRef>): ArrayBuffer[] {
  const buffers: ArrayBuffer[] = [];
  for (const block of blocks) if ("bytes" in block) buffers.push(block.bytes.buffer as ArrayBuffer);
  return buffers;
}
