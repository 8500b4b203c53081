// A local S3-compatible server for tests and benchmarks: node s3-server.mjs PORT DIRECTORY
import { readdir } from "node:fs/promises";
import S3rver from "s3rver";

const [port, directory] = process.argv.slice(2);
const server = new S3rver({ port: Number(port), address: "127.0.0.1", directory, silent: true });

// s3rver's delimited listing stops walking folders below a common prefix before it has seen a key
// in them, so a prefix whose keys all lie two or more levels down is never reported (S3 reports
// it). Its answer is kept for the objects, and the common prefixes are completed from the keys
// stored under the bucket's folder (names only: no object's metadata is read for them).
const store = server.store;
const delimitedListing = store.listObjects.bind(store);
const OBJECT_SUFFIX = "._S3rver_object";
store.listObjects = async (bucket, options) => {
  const result = await delimitedListing(bucket, options);
  const { delimiter = "", prefix = "" } = options;
  if (!delimiter) return result;
  const prefixes = new Set(result.commonPrefixes);
  for (const entry of await readdir(store.getBucketPath(bucket), { recursive: true })) {
    if (!entry.endsWith(OBJECT_SUFFIX)) continue;
    const key = store.constructor.decodeKeyPath(entry.slice(0, -OBJECT_SUFFIX.length));
    if (!key.startsWith(prefix)) continue;
    const at = key.indexOf(delimiter, prefix.length);
    if (at !== -1) prefixes.add(key.slice(0, at + delimiter.length));
  }
  return { ...result, commonPrefixes: [...prefixes].sort() };
};

await server.run();
console.log(`s3rver listening on 127.0.0.1:${port}`);
process.on("SIGTERM", async () => {
  await server.close();
  process.exit(0);
});
