// Writes dist/build-info.json: the commit the build was made from, which the Parquet files sluice
// writes name in their created_by (`sluice version X.Y.Z (build HASH)`). Outside a git checkout
// (a build from a source tarball) the file is left out and created_by names the version alone.
import { execFileSync } from "node:child_process";
import { mkdirSync, rmSync, writeFileSync } from "node:fs";

const target = new URL("../dist/build-info.json", import.meta.url);
let commit;
try {
  commit = execFileSync("git", ["rev-parse", "--short=12", "HEAD"], {
    cwd: new URL("..", import.meta.url),
    encoding: "utf8",
    stdio: ["ignore", "pipe", "ignore"],
  }).trim();
} catch {
  commit = undefined;
}
if (commit && /^[0-9a-f]+$/.test(commit)) {
  mkdirSync(new URL("../dist/", import.meta.url), { recursive: true });
  writeFileSync(target, `${JSON.stringify({ commit })}\n`);
} else {
  rmSync(target, { force: true });
}
