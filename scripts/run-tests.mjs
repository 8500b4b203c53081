// Runs the test suite beside a real S3-compatible server (s3rver) and a real Redis on 127.0.0.1,
// started here and stopped afterwards, so that `npm test` needs nothing installed or started by
// hand (redis-server comes from Debian's packages, installed here where it is missing). Where
// moto_server is installed (it is on this project's machines), it runs too: it honours S3's
// conditional writes, which s3rver ignores, and the output-lock tests need them.
import { spawn, spawnSync } from "node:child_process";
import { mkdtempSync, readdirSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";

const root = new URL("..", import.meta.url).pathname;

/**
 * Installs Debian packages the tests drive for real (tmux for the terminal tests) where their
 * command is missing and this user may install them; where it may not, the tests that need them
 * fail saying so.
 */
function ensureDebianPackages(packages) {
  const missing = Object.entries(packages).filter(
    ([command]) => spawnSync("sh", ["-c", `command -v ${command}`]).status !== 0,
  );
  if (missing.length === 0) return;
  const names = missing.map(([, name]) => name);
  const asRoot = process.getuid?.() === 0;
  const sudo = !asRoot && spawnSync("sudo", ["-n", "true"]).status === 0 ? ["sudo", "-n"] : undefined;
  if (!asRoot && !sudo) {
    console.error(`not installing ${names.join(", ")}: neither root nor sudo without a password`);
    return;
  }
  const run = (args) => {
    const [program, ...rest] = [...(sudo ?? []), ...args];
    return spawnSync(program, rest, { stdio: ["ignore", "ignore", "inherit"], env: { ...process.env, DEBIAN_FRONTEND: "noninteractive" } });
  };
  console.error(`installing ${names.join(", ")} for the tests (apt-get)`);
  run(["apt-get", "update", "-qq"]);
  run(["apt-get", "install", "-y", "-qq", ...names]);
}
// Words before `--` pick test files by name; what follows goes to `node --test` as it is
// (`-- --test-name-pattern "a group too large"`).
const separator = process.argv.indexOf("--", 2);
const filter = process.argv.slice(2, separator < 0 ? undefined : separator);
const testArguments = separator < 0 ? [] : process.argv.slice(separator + 1);
const testDirectory = join(root, "build/test");
const files = readdirSync(testDirectory)
  .filter((name) => name.endsWith(".test.js"))
  .filter((name) => filter.length === 0 || filter.some((part) => name.includes(part)))
  .map((name) => join(testDirectory, name));
if (files.length === 0) {
  // node --test given no files would look for tests on its own, outside this setup.
  console.error(
    filter.length === 0
      ? "no test file in build/test: `npm test` compiles them first"
      : `no test file in build/test matches ${filter.join(" or ")}`,
  );
  console.error("usage: node scripts/run-tests.mjs [PART_OF_A_TEST_FILE_NAME...]");
  process.exit(2);
}

ensureDebianPackages({ tmux: "tmux", "redis-server": "redis-server" });

/**
 * Starts a Redis server on a random port on 127.0.0.1, without persistence; resolves to its URL
 * and a stop function, or to what it printed when it did not start (a port taken, say).
 */
async function startRedisOnce() {
  const redisPort = 30000 + Math.floor(Math.random() * 10000);
  let redis;
  try {
    redis = spawn("redis-server", ["--port", String(redisPort), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no"], {
      stdio: ["ignore", "pipe", "pipe"],
    });
  } catch (error) {
    return { failure: String(error) };
  }
  let output = "";
  const ready = await new Promise((resolve) => {
    const take = (chunk) => {
      output += chunk;
      if (String(chunk).includes("Ready to accept connections")) resolve(true);
    };
    redis.stdout.on("data", take);
    redis.stderr.on("data", take);
    redis.on("error", (error) => {
      output += String(error);
      resolve(false);
    });
    redis.on("exit", () => resolve(false));
  });
  if (!ready) {
    redis.kill();
    return { failure: output.trim().split("\n").slice(-3).join("\n") };
  }
  redis.stdout.resume();
  redis.stderr.resume();
  return { url: `redis://127.0.0.1:${redisPort}`, stop: () => redis.kill() };
}

/**
 * A Redis for the cluster tests, or the end of the run: tried on a few ports, since one may be
 * taken. The cluster tests skip when no Redis is given (for `node --test` by hand), so the test
 * command must not go on without one and report the suite as passed.
 */
async function startRedis() {
  let last;
  for (let attempt = 0; attempt < 5; attempt++) {
    last = await startRedisOnce();
    if (last.url) return last;
  }
  console.error(`redis-server did not start, so the cluster tests cannot run:\n${last.failure}`);
  process.exit(1);
}
const redis = await startRedis();
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

/** Starts moto_server on a free port; resolves to its endpoint, or undefined where it is missing. */
async function startMoto() {
  const motoPort = 40000 + Math.floor(Math.random() * 10000);
  let moto;
  try {
    moto = spawn("moto_server", ["-H", "127.0.0.1", "-p", String(motoPort)], { stdio: "ignore" });
  } catch {
    return undefined;
  }
  const started = await new Promise((resolve) => {
    let failed = false;
    moto.on("error", () => {
      failed = true;
      resolve(false);
    });
    const deadline = Date.now() + 30_000;
    const poll = () => {
      fetch(`http://127.0.0.1:${motoPort}/`)
        .then(() => resolve(true))
        .catch(() =>
          failed || Date.now() > deadline || moto.exitCode !== null ? resolve(false) : setTimeout(poll, 200),
        );
    };
    poll();
  });
  if (!started) {
    moto.kill();
    return undefined;
  }
  return { endpoint: `http://127.0.0.1:${motoPort}`, stop: () => moto.kill() };
}
const moto = await startMoto();

const tests = spawn(process.execPath, ["--test", "--test-concurrency=1", ...testArguments, ...files], {
  stdio: "inherit",
  env: {
    ...process.env,
    SLUICE_TEST_S3_ENDPOINT: `http://127.0.0.1:${port}`,
    ...(moto ? { SLUICE_TEST_CONDITIONAL_S3_ENDPOINT: moto.endpoint } : {}),
    SLUICE_TEST_REDIS_URL: redis.url,
  },
});
const code = await new Promise((resolve) => tests.on("exit", (exitCode, signal) => resolve(exitCode ?? (signal ? 1 : 0))));
server.kill();
moto?.stop();
redis.stop();
rmSync(s3Directory, { recursive: true, force: true });
process.exit(code);
