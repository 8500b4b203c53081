// A local S3-compatible server for tests and benchmarks: node s3-server.mjs PORT DIRECTORY
import S3rver from "s3rver";

const [port, directory] = process.argv.slice(2);
const server = new S3rver({ port: Number(port), address: "127.0.0.1", directory, silent: true });
await server.run();
console.log(`s3rver listening on 127.0.0.1:${port}`);
process.on("SIGTERM", async () => {
  await server.close();
  process.exit(0);
});
