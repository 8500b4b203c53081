// Runs the test suite beside a real S3-compatible server (s3rver) on 127.0.0.1, started here and
// stopped afterwards, so that `npm test` needs nothing installed or started by hand.
import { spawn } from "node:child_process";
import { mkdtempSync, readdirSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";

const root = new URL("..", import.meta.url).pathname;
const s3Directory = mkdtempSync(join(tmpdir(), "sluice-s3rver-"));
const port = 20000 + Math.floor(Math.random() * 20000);

// s3rver signs ListObjectsV2 continuation tokens with a cipher that OpenSSL 3 only offers
// through its legacy provider.
const server = spawn(
  process.execPath,
  ["--openssl-legacy-provider", join(root, "scripts/s3-server.mjs"), String(port), s3Directory],
  { stdio: ["ignore", "pipe", "inherit"] },
);
const ready = await new Promise((resolve) => {
  server.stdout.on("data", (chunk) => {
    if (String(chunk).includes("listening")) resolve(true);
  });
  server.on("exit", () => resolve(false));
});
if (!ready) {
  console.error("the local S3 server did not start");
  process.exit(1);
}

const filter = process.argv.slice(2);
const testDirectory = join(root, "build/test");
const files = readdirSync(testDirectory)
  .filter((name) => name.endsWith(".test.js"))
  .filter((name) => filter.length === 0 || filter.some((part) => name.includes(part)))
  .map((name) => join(testDirectory, name));

const tests = spawn(process.execPath, ["--test", "--test-concurrency=1", ...files], {
  stdio: "inherit",
  env: { ...process.env, SLUICE_TEST_S3_ENDPOINT: `http://127.0.0.1:${port}` },
});
const code = await new Promise((resolve) => tests.on("exit", (exitCode, signal) => resolve(exitCode ?? (signal ? 1 : 0))));
server.kill();
rmSync(s3Directory, { recursive: true, force: true });
process.exit(code);
