/**
 * A small disk for tests of disk trouble: a tmpfs of a given size, mounted in a private mount
 * namespace so that nothing outside the test sees it and it vanishes with its holder process.
 * Commands run inside the namespace (nsenter); this process reads the disk's files through
 * /proc/<holder>/root, which shows the holder's mounts.
 */
import { type ChildProcess, spawn, spawnSync, type SpawnSyncReturns } from "node:child_process";
import { mkdir } from "node:fs/promises";
import { join } from "node:path";

export interface SmallDisk {
  /** Where the disk is mounted, as commands run by `run` see it. */
  readonly path: string;
  /** The same folder as this process sees it. */
  readonly outside: string;
  /** Runs a command inside the namespace that has the disk. */
  run(command: string, args: readonly string[], env?: NodeJS.ProcessEnv): SpawnSyncReturns<string>;
  /** Remounts the disk read-only. */
  makeReadOnly(): void;
}

export async function withSmallDisk<T>(
  folder: string,
  size: string,
  body: (disk: SmallDisk) => Promise<T>,
): Promise<T> {
  const path = join(folder, "small-disk");
  await mkdir(path, { recursive: true });
  const holder = spawn(
    "unshare",
    [
      "--mount",
      "--propagation",
      "private",
      "--",
      "sh",
      "-c",
      'mount -t tmpfs -o "size=$1" sluice-test "$2" && echo mounted && exec sleep 3600',
      "sh",
      size,
      path,
    ],
    { stdio: ["ignore", "pipe", "pipe"] },
  );
  try {
    await mounted(holder);
    const pid = String(holder.pid);
    const inside = (command: string, args: readonly string[], env?: NodeJS.ProcessEnv) =>
      spawnSync("nsenter", ["--target", pid, "--mount", "--", command, ...args], {
        encoding: "utf8",
        env: { ...process.env, ...env },
        timeout: 120_000,
      });
    const disk: SmallDisk = {
      path,
      outside: `/proc/${pid}/root${path}`,
      run: inside,
      makeReadOnly() {
        const remount = inside("mount", ["-o", "remount,ro", path]);
        if (remount.status !== 0) throw new Error(`cannot remount ${path} read-only: ${remount.stderr}`);
      },
    };
    return await body(disk);
  } finally {
    holder.kill("SIGKILL");
  }
}

/** Waits for the holder to report its mount; fails with what it said if it could not make one. */
function mounted(holder: ChildProcess): Promise<void> {
  return new Promise((resolve, reject) => {
    let stderr = "";
    holder.stderr?.on("data", (chunk) => {
      stderr += chunk;
    });
    holder.stdout?.on("data", (chunk) => {
      if (String(chunk).includes("mounted")) resolve();
    });
    holder.on("exit", (code) =>
      reject(
        new Error(
          `could not mount a small tmpfs in a private mount namespace (exit ${code}): ${stderr.trim()}`,
        ),
      ),
    );
  });
}
