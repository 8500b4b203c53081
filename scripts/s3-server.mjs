// A local S3-compatible server for tests and benchmarks: node s3-server.mjs PORT DIRECTORY
import S3rver from "s3rver";

const [port, directory] = process.argv.slice(2);
const server = new S3rver({ port: Number(port), address: "127.0.0.1", directory, silent: true });

// s3rver's delimited listing stops walking folders below a common prefix before it has seen a key
// in them, so a prefix whose keys all lie two or more levels down is never reported (S3 reports
// it). Listing flat and grouping by the delimiter here gives S3's answer. A delimited listing is
// returned in one page: the tests never put 1,000 entries on one level.
const flatListing = server.store.listObjects.bind(server.store);
server.store.listObjects = async (bucket, options) => {
  const { delimiter = "", prefix = "" } = options;
  if (!delimiter) return flatListing(bucket, options);
  const all = await flatListing(bucket, { ...options, delimiter: "", maxKeys: Number.POSITIVE_INFINITY });
  const commonPrefixes = new Set();
  const objects = [];
  for (const object of all.objects) {
    const at = object.key.indexOf(delimiter, prefix.length);
    if (at === -1) objects.push(object);
    else commonPrefixes.add(object.key.slice(0, at + delimiter.length));
  }
  return { objects, commonPrefixes: [...commonPrefixes].sort(), isTruncated: false };
};

await server.run();
console.log(`s3rver listening on 127.0.0.1:${port}`);
process.on("SIGTERM", async () => {
  await server.close();
  process.exit(0);
});
