/**
 * The command on a real terminal: tmux gives it a pseudo-terminal of a set size, and the test reads
 * the screen it leaves behind (tmux's own rendering of every byte the command wrote).
 */
import assert from "node:assert/strict";
import { execFileSync, spawnSync } from "node:child_process";
import { join } from "node:path";
import { after, before, describe, it } from "node:test";
import { fileURLToPath } from "node:url";
import { emptyCounters } from "../src/core/metrics.js";
import { stageTable } from "../src/pipelines/progress-display.js";
import { withTempDir } from "./support/temp.js";

const root = fileURLToPath(new URL("../..", import.meta.url));
const command = join(root, "dist/pipelines/sparkify.js");
const progressScript = join(root, "build/test/fixtures/progress-on-terminal.js");
const socket = `sluice-test-${process.pid}`;

function tmux(...args: string[]): string {
  return execFileSync("tmux", ["-L", socket, "-f", "/dev/null", ...args], { encoding: "utf8" });
}

before(() => {
  assert.equal(
    spawnSync("tmux", ["-V"]).status,
    0,
    "these tests need tmux; npm test installs it with apt-get where it is missing",
  );
});

after(() => {
  spawnSync("tmux", ["-L", socket, "kill-server"]);
});

/** Single-quotes `text` for the shell tmux runs the command with. */
function quoted(text: string): string {
  return `'${text.replaceAll("'", "'\\''")}'`;
}

/**
 * Runs `argv` in a new tmux window `width` columns wide; resolves to the final screen (wrapped
 * lines joined, so that a line wider than the terminal shows as one long line) and the exit status.
 */
async function onTerminal(
  name: string,
  width: number,
  argv: readonly string[],
  whileRunning?: () => void,
): Promise<{ screen: string[]; status: number }> {
  const shell = `${argv.map(quoted).join(" ")}; echo "exit status $?"; sleep 600`;
  tmux("new-session", "-d", "-s", name, "-x", String(width), "-y", "50", shell);
  try {
    const deadline = Date.now() + 180_000;
    let resized = false;
    for (;;) {
      const screen = tmux("capture-pane", "-p", "-J", "-t", name).split("\n");
      const ended = screen.find((line) => line.startsWith("exit status "));
      if (ended) return { screen: screen.map((line) => line.trimEnd()), status: Number(ended.slice(12)) };
      if (Date.now() > deadline) assert.fail(`the command did not end:\n${screen.join("\n")}`);
      if (!resized && whileRunning && screen.some((line) => line.startsWith("stage "))) {
        resized = true;
        whileRunning();
      }
      await new Promise((resolve) => setTimeout(resolve, 200));
    }
  } finally {
    tmux("kill-session", "-t", name);
  }
}

function count(screen: readonly string[], predicate: (line: string) => boolean): number {
  return screen.filter(predicate).length;
}

describe("the command on a terminal", () => {
  for (const width of [120, 80]) {
    it(`at ${width} columns leaves one stage table and the whole summary on screen`, async () => {
      await withTempDir(async (folder) => {
        const { screen, status } = await onTerminal(`sample-${width}`, width, [
          process.execPath,
          command,
          "--output",
          join(folder, "lake"),
        ]);
        const text = screen.join("\n");
        assert.equal(status, 0, text);
        const tooWide = screen.filter((line) => line.length >= width);
        assert.deepEqual(tooWide, [], `lines as wide as the terminal wrap:\n${text}`);
        assert.equal(
          count(screen, (line) => /^stage\s+tasks\s+records/.test(line)),
          1,
          text,
        );
        for (const stage of [0, 1, 2, 3, 4, 5]) {
          const rows = screen.filter((line) => line.startsWith(`${stage} `));
          assert.equal(rows.length, 1, `stage ${stage} once:\n${text}`);
          // Finished: as many tasks done as it has.
          assert.match(rows[0]!, / (\d+)\/\1 /, `stage ${stage} shown finished:\n${text}`);
        }
        // The summary, below the table and whole.
        const summaryStart = screen.findIndex((line) => /^table\s+rows\s+partitions/.test(line));
        const stageHeader = screen.findIndex((line) => /^stage\s+tasks/.test(line));
        assert.ok(summaryStart > stageHeader, text);
        for (const table of ["songs", "artists", "users", "time", "songplays"])
          assert.equal(
            count(screen, (line) => line.startsWith(`${table} `)),
            1,
            `${table}:\n${text}`,
          );
        for (const label of ["records read", "rejected", "skipped", "wall time", "output"])
          assert.equal(
            count(screen, (line) => line.startsWith(label)),
            1,
            `${label}:\n${text}`,
          );
      });
    });
  }

  it("writes what else is printed above the live table, follows a resize and stops once", async () => {
    const { screen, status } = await onTerminal(
      "progress",
      120,
      [process.execPath, progressScript, "4000"],
      () => tmux("resize-window", "-t", "progress", "-x", "70"),
    );
    const text = screen.join("\n");
    assert.equal(status, 0, text);
    const warning = screen.indexOf("warning: a line written while the table is live");
    const header = screen.findIndex((line) => /^stage\s+tasks/.test(line));
    const summary = screen.indexOf("summary: the last line");
    assert.equal(
      count(screen, (line) => /^stage\s+tasks/.test(line)),
      1,
      text,
    );
    assert.ok(warning >= 0 && warning < header && header < summary, text);
    // Drawn at the new width: no line of the final table reaches 70 columns.
    const table = screen.slice(header, summary);
    assert.deepEqual(
      table.filter((line) => line.length >= 70),
      [],
      text,
    );
    assert.equal(table.filter((line) => /^\d /.test(line)).length, 4, text);
  });
});

describe("the stage table", () => {
  it("counts a stage's tasks as '?' until it starts, and 0 for a stage that ran none", () => {
    const stage = (
      stageId: number,
      state: "waiting" | "running" | "done",
      tasks: number,
      tasksDone: number,
    ) => ({
      stageId,
      name: `stage ${stageId}`,
      state,
      tasks,
      tasksDone,
      wallMs: 0,
      ...emptyCounters(),
    });
    const metrics = {
      runId: "r",
      stages: [stage(0, "done", 0, 0), stage(1, "running", 8, 3), stage(2, "waiting", 0, 0)],
      transforms: [],
      shuffles: [],
      wallMs: 0,
      rejected: 0,
      recordsSeen: 0,
      bytesRead: 0,
      rejectedSamples: [],
      counters: {},
    };
    const rows = stageTable(metrics, 120, 1).slice(2, 5);
    const tasksOf = (row: string) =>
      row
        .split("  ")
        .filter((cell) => cell.trim() !== "")[1]
        ?.trim();
    assert.deepEqual(rows.map(tasksOf), ["0/0", "3/8", "0/?"]);
  });
});
