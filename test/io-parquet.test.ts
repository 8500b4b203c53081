import assert from "node:assert/strict";
import { mkdir, readdir, readFile, writeFile } from "node:fs/promises";
import { join, relative, resolve } from "node:path";
import { describe, it } from "node:test";
import fc from "fast-check";
import {
  escapePathName,
  HIVE_DEFAULT_PARTITION,
  jsonDocuments,
  jsonLines,
  Lake,
  parquetDataset,
  PartitionPaths,
  partitionPath,
  partitionValues,
  unescapePathName,
} from "../src/io/index.js";
import { column, definePipeline, Pipeline, runDirect, schema } from "../src/index.js";
import { type Item, itemArbitrary, itemSchema, writeItems } from "./fixtures/lake-pipelines.js";
import { literal, query } from "./support/duckdb.js";
import { withTempDir } from "./support/temp.js";

function uniqueIds(items: Item[]): Item[] {
  const seen = new Set<number>();
  return items.filter((item) => !seen.has(item.id) && seen.add(item.id));
}

/** The Parquet files under `folder`, relative to it. */
async function parquetFilesUnder(folder: string): Promise<string[]> {
  const entries = await readdir(folder, { recursive: true });
  return entries.filter((entry) => entry.endsWith(".parquet")).sort();
}

async function readItems(table: string, hive: boolean): Promise<Record<string, unknown>[]> {
  const rows = await query(
    `SELECT id, name, score, epoch_ms("at") AS at, flag, small${hive ? ', "group"' : ""} FROM read_parquet(${literal(`${table}/**/*.parquet`)}${hive ? ", hive_partitioning = true, hive_types_autocast = false" : ""}) ORDER BY id`,
  );
  return rows.map((row) => ({ ...row, id: Number(row.id), at: Number(row.at) }));
}

describe("Parquet sink", () => {
  it("any generated records written to Parquet are read back equal by DuckDB", async () => {
    await withTempDir(async (folder) => {
      let run = 0;
      await fc.assert(
        fc.asyncProperty(fc.array(itemArbitrary, { maxLength: 40 }), async (generated) => {
          const items = uniqueIds(generated);
          const output = join(folder, `run${run++}`);
          await writeItems.run({ items, output, mode: "overwrite" }, { runner: "direct" });
          const expected = [...items].sort((a, b) => a.id - b.id).map(({ group: _group, ...rest }) => rest);
          assert.deepEqual(await readItems(join(output, "items"), false), expected);
        }),
        { numRuns: 25 },
      );
    });
  });

  it("writes the declared Parquet types, optional columns, UTC timestamps and snappy, version-1 pages", async () => {
    await withTempDir(async (folder) => {
      const items: Item[] = [
        { id: 1, name: "one", score: 1.5, at: 1542837407796, flag: true, small: 7, group: null },
        { id: 2, name: null, score: null, at: 0, flag: null, small: -1, group: null },
      ];
      await writeItems.run({ items, output: folder, mode: "overwrite" }, { runner: "direct" });
      const file = join(
        folder,
        "items",
        (await readdir(join(folder, "items"))).find((name) => name.endsWith(".parquet"))!,
      );
      const columns = await query(`DESCRIBE SELECT * FROM read_parquet(${literal(file)})`);
      assert.deepEqual(Object.fromEntries(columns.map((row) => [row.column_name, row.column_type])), {
        id: "BIGINT",
        name: "VARCHAR",
        score: "DOUBLE",
        at: "TIMESTAMP WITH TIME ZONE",
        flag: "BOOLEAN",
        small: "INTEGER",
        group: "VARCHAR",
      });
      const metadata = await query(
        `SELECT path_in_schema AS name, compression FROM parquet_metadata(${literal(file)}) ORDER BY column_id`,
      );
      assert.ok(
        metadata.every((row) => row.compression === "SNAPPY"),
        JSON.stringify(metadata),
      );
      const pages = await query(`SELECT DISTINCT type FROM parquet_metadata(${literal(file)})`);
      assert.deepEqual(
        pages.map((row) => row.type).filter((type) => String(type).includes("V2")),
        [],
      );
      const [row] = await query(
        `SELECT strftime(max("at"), '%Y-%m-%dT%H:%M:%S.%g') AS at, count(*) AS n, count(name) AS names FROM read_parquet(${literal(join(folder, "items", "*.parquet"))})`,
      );
      assert.deepEqual(row, { at: "2018-11-21T21:56:47.796", n: 2n, names: 1n });
      const schemaRows = await query(
        `SELECT name, repetition_type FROM parquet_schema(${literal(file)}) WHERE type IS NOT NULL`,
      );
      assert.deepEqual(Object.fromEntries(schemaRows.map((entry) => [entry.name, entry.repetition_type])), {
        id: "REQUIRED",
        name: "OPTIONAL",
        score: "OPTIONAL",
        at: "REQUIRED",
        flag: "OPTIONAL",
        small: "REQUIRED",
        group: "OPTIONAL",
      });
    });
  });

  it("Hive-partitions by columns kept out of the files, escaped so that every reader gets the value back", async () => {
    await withTempDir(async (folder) => {
      const groups = ["a", "b/c", "x=y", "50%", "é", "", null, "../up", "q?#*"];
      const items: Item[] = groups.map((group, index) => ({
        id: index,
        name: `n${index}`,
        score: index / 2,
        at: 1_000 * index,
        flag: null,
        small: index % 2,
        group,
      }));
      await writeItems.run(
        { items, output: folder, mode: "overwrite", partitionBy: ["group", "small"], maxOpenFiles: 2 },
        { threads: 2 },
      );
      const table = join(folder, "items");
      const folders = (await readdir(table)).sort();
      assert.ok(folders.includes(`group=${HIVE_DEFAULT_PARTITION}`), folders.join(" "));
      assert.ok(
        folders.includes("group=b%2Fc") && folders.includes("group=x%3Dy") && folders.includes("group=50%25"),
      );
      const file = (await readdir(join(table, "group=a", "small=0"))).find((name) =>
        name.endsWith(".parquet"),
      )!;
      const inFile = await query(
        `DESCRIBE SELECT * FROM read_parquet(${literal(join(table, "group=a", "small=0", file))}, hive_partitioning = false)`,
      );
      assert.deepEqual(
        inFile.map((row) => row.column_name),
        ["id", "name", "score", "at", "flag"],
        "partition columns live in the folder names only",
      );
      const rows = await query(
        `SELECT id, "group", small FROM read_parquet(${literal(`${table}/**/*.parquet`)}, hive_partitioning = true, hive_types_autocast = false) ORDER BY id`,
      );
      assert.deepEqual(
        rows.map((row) => [Number(row.id), row.group, row.small]),
        items.map((item) => [item.id, item.group === "" ? null : item.group, String(item.small)]),
      );
      // And sluice reads back what it wrote, partition values typed by the schema.
      const readBack = definePipeline({ module: import.meta.url, name: "read-back" }, (p) => ({
        rows: p.read(parquetDataset(table, { schema: itemSchema })).collect(),
      }));
      const { outputs } = await readBack.run(undefined, { runner: "direct" });
      assert.deepEqual(
        [...outputs.rows].sort((a, b) => a.id - b.id),
        items.map((item) => ({ ...item, group: item.group === "" ? null : item.group })),
      );
    });
  });

  it("repartitionBy the partition columns writes one file per partition folder, whatever the splits and threads", async () => {
    await withTempDir(async (folder) => {
      let run = 0;
      await fc.assert(
        fc.asyncProperty(
          fc.array(itemArbitrary, { minLength: 1, maxLength: 60 }),
          fc.integer({ min: 1, max: 6 }),
          fc.integer({ min: 1, max: 6 }),
          fc.constantFrom<("group" | "small")[]>(["small"], ["group", "small"]),
          fc.constantFrom({ runner: "direct" as const }, { threads: 2 }),
          async (generated, splits, partitions, partitionBy, runOptions) => {
            // Few folders, each with rows from several splits.
            const items = uniqueIds(generated).map((item) => ({ ...item, small: Math.abs(item.small % 3) }));
            const output = join(folder, `run${run++}`);
            await writeItems.run(
              { items, output, mode: "overwrite", partitionBy, splits, repartitionByPartition: partitions },
              runOptions,
            );
            const table = join(output, "items");
            const files = await parquetFilesUnder(table);
            const folders = files.map((file) => file.slice(0, file.lastIndexOf("/")));
            assert.equal(
              new Set(folders).size,
              folders.length,
              `a folder with several files: ${files.join(" ")}`,
            );
            const rows = await query(
              `SELECT id FROM read_parquet(${literal(`${table}/**/*.parquet`)}, hive_partitioning = true) ORDER BY id`,
            );
            assert.deepEqual(
              rows.map((row) => Number(row.id)),
              items.map((item) => item.id).sort((a, b) => a - b),
            );
          },
        ),
        { numRuns: 12 },
      );
    });
  });

  it("bounds rows per file and open files per task", async () => {
    await withTempDir(async (folder) => {
      const items: Item[] = Array.from({ length: 250 }, (_, index) => ({
        id: index,
        name: null,
        score: null,
        at: index,
        flag: null,
        small: index % 5,
        group: null,
      }));
      await writeItems.run(
        {
          items,
          output: folder,
          mode: "overwrite",
          partitionBy: ["small"],
          maxRowsPerFile: 20,
          maxOpenFiles: 2,
          splits: 1,
        },
        { runner: "direct" },
      );
      for (let small = 0; small < 5; small++) {
        const partition = join(folder, "items", `small=${small}`);
        const files = (await readdir(partition)).filter((name) => name.endsWith(".parquet"));
        const counts = await Promise.all(
          files.map(async (name) =>
            Number(
              (await query(`SELECT count(*) AS n FROM read_parquet(${literal(join(partition, name))})`))[0]!
                .n,
            ),
          ),
        );
        assert.ok(
          counts.every((count) => count <= 20),
          `${counts}`,
        );
        assert.equal(
          counts.reduce((a, b) => a + b, 0),
          50,
        );
      }
    });
  });
});

describe("partition escaping", () => {
  it("any string as a partition value round-trips through the escaping and never leaves its folder", () => {
    fc.assert(
      fc.property(
        fc.string({ unit: "binary", maxLength: 40 }),
        fc.string({ unit: "grapheme", maxLength: 10 }),
        (value, other) => {
          const path = partitionPath({ a: value, b: other }, ["a", "b"]);
          const segments = path.split("/");
          assert.equal(segments.length, 2, `${JSON.stringify(value)} made ${path}`);
          const table = "/lake/table";
          const resolved = resolve(table, path, "part-0.parquet");
          assert.ok(!relative(table, resolved).startsWith(".."), `${path} left the table`);
          assert.deepEqual(partitionValues(`${path}/part-0.parquet`), {
            a: value === "" ? null : value,
            b: other === "" ? null : other,
          });
          assert.equal(unescapePathName(escapePathName(value)), value);
          const escaped = escapePathName(value);
          const forbidden = [...escaped].filter((character) => {
            const code = character.charCodeAt(0);
            return code < 0x20 || code === 0x7f || "\"#'*/:=?\\^[]{}".includes(character);
          });
          assert.deepEqual(forbidden, [], `${JSON.stringify(escaped)} holds characters Hive escapes`);
        },
      ),
      { numRuns: 2000 },
    );
  });

  it("a sink's remembered partition paths are the paths of every record", () => {
    const partitionValue = fc.oneof(
      fc.constantFrom("", "a", "a/b", "é", null, undefined, 0, 2018),
      fc.string({ unit: "binary", maxLength: 6 }),
      fc.integer({ min: -3, max: 3 }),
    );
    fc.assert(
      fc.property(fc.array(fc.tuple(partitionValue, partitionValue), { maxLength: 60 }), (pairs) => {
        const paths = new PartitionPaths(["year", "artist id"]);
        for (const [year, artist] of pairs) {
          const record = { year, "artist id": artist };
          assert.equal(paths.of(record), partitionPath(record, ["year", "artist id"]));
        }
      }),
      { numRuns: 500 },
    );
  });
});

describe("a lake's and a table's options", () => {
  it("a misspelt mode, disposition, codec or option name, a column name given as a string, or a count below 1 fails when built", () => {
    const table = schema({ id: column.int32(), day: column.utf8() });
    const lake = (mode?: string) =>
      new Lake("/tmp/never-written", mode === undefined ? {} : { mode: mode as never });
    assert.throws(
      () => lake("overwrit"),
      /^SluiceError: the mode of the lake at \/tmp\/never-written must be one of "error-if-exists", "overwrite", "update"; got "overwrit" \(a string\)$/,
    );
    const refused: [Record<string, unknown>, RegExp][] = [
      [
        { disposition: "replce" },
        /^SluiceError: table 't': disposition must be one of "append", "replace"; got "replce"/,
      ],
      [
        { compression: "snapy" },
        /^SluiceError: table 't': compression must be one of "snappy", "gzip", "none"; got "snapy"/,
      ],
      [
        { partitionBy: "day" },
        /^SluiceError: table 't': partitionBy must be an array of column names, got "day" \(a string\)$/,
      ],
      [{ sortBy: "id" }, /^SluiceError: table 't': sortBy must be an array of column names, got "id"/],
      [
        { rowGroupSize: 0 },
        /^SluiceError: table 't': rowGroupSize must be a whole number of 1 or more, got 0/,
      ],
      [
        { maxRowsPerFile: 1.5 },
        /^SluiceError: table 't': maxRowsPerFile must be a whole number of 1 or more, got 1\.5/,
      ],
      [{ maxOpenFiles: -1 }, /maxOpenFiles must be a whole number of 1 or more/],
      [
        { partitionBy: ["dya"] },
        /^SluiceError: table 't': partition column 'dya' is not in its schema \(did you mean 'day'\?\): its columns are id, day$/,
      ],
      [
        { sortBy: ["ID"] },
        /^SluiceError: table 't': sort column 'ID' is not in its schema \(did you mean 'id'\?\)/,
      ],
      [{ maxBufferedRows: "10" }, /maxBufferedRows must be a whole number of 1 or more, got "10"/],
      // A misspelt option name would otherwise be ignored: this table would be unpartitioned.
      [
        { partitionby: ["day"] },
        /^SluiceError: table 't': unknown option 'partitionby' \(did you mean 'partitionBy'\?\); the options are partitionBy, compression, rowGroupSize, maxRowsPerFile, maxBufferedRows, maxOpenFiles, sortBy, disposition$/,
      ],
    ];
    for (const [options, message] of refused)
      assert.throws(() => lake("update").parquet("t", table, options), message);
    assert.throws(
      () => lake("update").state("s", { disposition: "replce" as never }),
      /table '_sluice\/s': disposition must be one of/,
    );
    assert.throws(
      () => lake("update").jsonLines("j", { partitionBy: "day" } as never),
      /^SluiceError: table 'j': unknown option 'partitionBy' \(did you mean 'partitionOf'\?\); the options are disposition, partitionOf$/,
    );
    assert.throws(
      () => new Lake("/tmp/never-written", { mod: "overwrite" } as never),
      /^SluiceError: lake \/tmp\/never-written: unknown option 'mod' \(did you mean 'mode'\?\); the options are mode, s3$/,
    );
    // Without it the records would be read unchecked.
    for (const [read, name] of [
      [() => jsonLines("/tmp/never-read", { shema: table } as never), "jsonLines"],
      [() => jsonDocuments("/tmp/never-read", { shema: table } as never), "jsonDocuments"],
      [() => parquetDataset("/tmp/never-read", { shema: table } as never), "parquetDataset"],
    ] as const)
      assert.throws(
        read,
        new RegExp(`^SluiceError: ${name}: unknown option 'shema' \\(did you mean 'schema'\\?\\)`),
      );
    for (const mode of [undefined, "error-if-exists", "overwrite", "update"]) {
      assert.doesNotThrow(() =>
        lake(mode).parquet("t", table, {
          partitionBy: ["day"],
          compression: "gzip",
          rowGroupSize: 10,
          ...(mode === "update" ? { disposition: "replace" } : {}),
        }),
      );
    }
  });
});

describe("JSON-lines tables", () => {
  it("partitionOf puts each record in its folder, and a folder outside the table or hidden from readers fails the run", async () => {
    await withTempDir(async (folder) => {
      const write = (partitionOf: (record: { day: string }) => unknown) => {
        const p = new Pipeline();
        const lake = new Lake(folder, { mode: "overwrite" });
        p.fromArray([{ day: "a" }, { day: "b" }, { day: "a" }]).write(
          lake.jsonLines("t", { partitionOf: partitionOf as (record: { day: string }) => string }),
        );
        return runDirect(p, {});
      };
      await write((record) => `day=${record.day}`);
      const lines = async (day: string) => {
        const [file] = await readdir(join(folder, "t", `day=${day}`));
        return (await readFile(join(folder, "t", `day=${day}`, file!), "utf8")).trim().split("\n");
      };
      assert.deepEqual(await lines("a"), ['{"day":"a"}', '{"day":"a"}']);
      assert.deepEqual(await lines("b"), ['{"day":"b"}']);
      // "../x" was staged outside the table, where the commit never looked: the records were lost.
      for (const [partitionOf, shown] of [
        [() => "../escape", '"../escape" \\(a string\\)'],
        [() => "day=a/_hidden", '"day=a/_hidden" \\(a string\\)'],
        [() => 7, "7 \\(a number\\)"],
      ] as const) {
        await assert.rejects(
          write(partitionOf),
          new RegExp(
            `table 't': partitionOf must give a folder path inside the table .* and it gave ${shown}$`,
          ),
        );
        assert.deepEqual((await readdir(folder)).sort(), ["t"], "nothing staged or left outside the table");
        assert.deepEqual(await lines("b"), ['{"day":"b"}'], "the previous table as it was");
      }
      // A template of a member the record lacks names a folder "month=undefined", silently.
      for (const [partitionOf, text] of [
        [
          (record: { day: string }) => `day=${record.day}/month=${(record as { month?: string }).month}`,
          "undefined",
        ],
        [() => `day=${null}`, "null"],
        [(record: { day: string }) => `day=${{ record }}`, "\\[object Object\\]"],
      ] as const) {
        await assert.rejects(
          write(partitionOf),
          new RegExp(
            `table 't': partitionOf gave the folder '(day|month)=${text}', the text JavaScript makes of ${text} in a template: the value it read is absent or not a value; for a null partition value give (day|month)=__HIVE_DEFAULT_PARTITION__, which readers give as null$`,
          ),
        );
        assert.deepEqual(await lines("b"), ['{"day":"b"}'], "the previous table as it was");
      }
    });
  });
});

describe("Parquet state tables", () => {
  it("a Parquet table a lake keeps under _sluice/ is read back as bookkeeping only as its commit left it", async () => {
    await withTempDir(async (folder) => {
      const rowSchema = schema({ id: column.int64(), name: column.utf8() });
      const p = new Pipeline();
      const lake = new Lake(folder, { mode: "overwrite" });
      p.fromArray(Array.from({ length: 500 }, (_, id) => ({ id, name: `row ${id}` }))).write(
        lake.parquet("_sluice/rows", rowSchema),
      );
      await runDirect(p, {});
      const uri = lake.stateUri("rows");
      const read = async () => {
        const q = new Pipeline();
        const rows = q.read(parquetDataset(uri, { schema: rowSchema, bookkeeping: true }));
        const { outputs } = await runDirect(q, { rows: rows.collect() });
        return outputs.rows.length;
      };
      assert.equal(await read(), 500);
      const [file] = (await readdir(uri)).filter((name) => name.endsWith(".parquet"));
      await writeFile(join(uri, "part-stray.parquet"), await readFile(join(uri, file!)));
      await assert.rejects(read(), /part-stray\.parquet: no commit of this table wrote it/);
    });
  });
});

describe("commit protocol (local)", () => {
  const item = (id: number): Item => ({
    id,
    name: `v${id}`,
    score: null,
    at: id,
    flag: null,
    small: 0,
    group: null,
  });

  it("error-if-exists refuses an existing table; overwrite replaces it only at commit", async () => {
    await withTempDir(async (folder) => {
      await writeItems.run(
        { items: [item(1)], output: folder, mode: "error-if-exists" },
        { runner: "direct" },
      );
      await assert.rejects(
        writeItems.run({ items: [item(2)], output: folder, mode: "error-if-exists" }, { runner: "direct" }),
        /the output table 'items' already exists at .*; choose another output or run with mode: "overwrite"$/,
      );
      await writeItems.run({ items: [item(3), item(4)], output: folder, mode: "overwrite" }, { threads: 2 });
      assert.deepEqual(
        (await readItems(join(folder, "items"), false)).map((row) => row.id),
        [3, 4],
      );
      assert.deepEqual((await readdir(folder)).sort(), ["items"], "no _temporary left behind");
      assert.equal(await readFile(join(folder, "items", "_SUCCESS"), "utf8"), "");
    });
  });

  it("a row with a member that is not a column fails the run, naming the member and the column it likely meant", async () => {
    await withTempDir(async (folder) => {
      const rows = Array.from({ length: 50 }, (_, index) => item(index));
      for (const runner of ["direct", "pool"] as const) {
        // A misspelt optional column would otherwise be null in every row.
        const misspelt = rows.map(({ name, ...rest }) => ({ ...rest, nmae: name }));
        await assert.rejects(
          writeItems.run(
            { items: misspelt as never, output: folder, mode: "overwrite" },
            { runner, threads: 2 },
          ),
          /table 'items': a row has a member 'nmae', which is not a column of the table \(did you mean 'name'\?\): its columns are id, name, score, at, flag, small, group; make the rows of those members only/,
        );
        await assert.rejects(
          writeItems.run(
            {
              items: rows.map((row) => ({ ...row, comment: "x" })) as never,
              output: folder,
              mode: "overwrite",
            },
            { runner, threads: 2 },
          ),
          /a row has a member 'comment', which is not a column of the table: its columns are/,
        );
        assert.deepEqual(await readdir(folder), [], `${runner}: nothing written, nothing staged`);
      }
      // An undefined member is absent, as JSON has it.
      await writeItems.run(
        { items: rows.map((row) => ({ ...row, comment: undefined })), output: folder, mode: "overwrite" },
        { runner: "direct" },
      );
      assert.equal((await readItems(join(folder, "items"), false)).length, 50);
    });
  });

  it("a partition column's values are checked as a file's columns are: null in a required one, an empty string, or another type fails the run naming the column", async () => {
    await withTempDir(async (folder) => {
      const rows = Array.from({ length: 50 }, (_, index) => item(index));
      const cases: [unknown, RegExp][] = [
        [null, /table 'items': column 'small' is required and the value is null/],
        [undefined, /table 'items': column 'small' is required and the value is undefined/],
        [1.5, /table 'items': column 'small' \(int32\) cannot hold 1\.5: expected an integer of 32 bits/],
        ["1", /table 'items': column 'small' \(int32\) cannot hold "1": expected an integer of 32 bits/],
      ];
      for (const runner of ["direct", "pool"] as const) {
        for (const [bad, message] of cases) {
          // One row of fifty, so that the check cannot pass on the first value of a partition alone.
          const items = rows.map((row) => (row.id === 37 ? { ...row, small: bad } : row));
          await assert.rejects(
            writeItems.run(
              { items: items as never, output: folder, mode: "overwrite", partitionBy: ["small"] },
              { runner, threads: 2 },
            ),
            message,
            `${runner}: ${String(bad)}`,
          );
          assert.deepEqual(await readdir(folder), [], `${runner}: nothing written, nothing staged`);
        }
      }
      // "" reads back as null: refused in a required column, Hive's default partition in an optional one.
      const days = schema({ id: column.int64(), day: column.utf8(), note: column.utf8().optional() });
      const write = (partitionBy: "day" | "note") => {
        const p = new Pipeline();
        p.fromArray([
          { id: 1, day: "mon", note: "" },
          { id: 2, day: "", note: "x" },
        ])
          .filter((row) => partitionBy === "note" || row.id === 2)
          .write(
            new Lake(folder, { mode: "overwrite" }).parquet("days", days, { partitionBy: [partitionBy] }),
          );
        return runDirect(p, {});
      };
      await assert.rejects(
        write("day"),
        /table 'days': partition column 'day' is required and a value is "": an empty partition value is written to Hive's default partition and reads back as null; make the column optional/,
      );
      await write("note");
      assert.deepEqual((await readdir(join(folder, "days"))).sort(), [
        "_SUCCESS",
        `note=${HIVE_DEFAULT_PARTITION}`,
        "note=x",
      ]);
      // A Date in a timestamp partition column names its folder by its epoch milliseconds, as a
      // number there would, and reads back as the same instant.
      const stamped = schema({ id: column.int64(), at: column.timestampMillis() });
      const p = new Pipeline();
      p.fromArray([0, 1])
        .map((id) => ({ id, at: id === 0 ? new Date(Date.UTC(2018, 10, 1)) : Date.UTC(2018, 10, 2) }))
        .write(new Lake(folder, { mode: "overwrite" }).parquet("stamped", stamped, { partitionBy: ["at"] }));
      await runDirect(p, {});
      assert.deepEqual((await readdir(join(folder, "stamped"))).sort(), [
        "_SUCCESS",
        `at=${Date.UTC(2018, 10, 1)}`,
        `at=${Date.UTC(2018, 10, 2)}`,
      ]);
      const back = new Pipeline();
      const { outputs } = await runDirect(back, {
        rows: back.read(parquetDataset(join(folder, "stamped"), { schema: stamped })).collect(),
      });
      assert.deepEqual(
        [...outputs.rows].sort((a, b) => a.id - b.id),
        [
          { id: 0, at: Date.UTC(2018, 10, 1) },
          { id: 1, at: Date.UTC(2018, 10, 2) },
        ],
      );
    });
  });

  it("sortBy orders a file by a timestamp column given as Dates and numbers, and by an INT64 one given as bigints and numbers", async () => {
    await withTempDir(async (folder) => {
      const rows = schema({ id: column.int64(), at: column.timestampMillis() });
      const ats = [5, 100_000, 20, 3_000, 1];
      const ids = [2n ** 60n, 7, 2n ** 53n + 1n, -3, 40];
      const p = new Pipeline();
      const written = p.fromArray([0, 1, 2, 3, 4], { splits: 1 }).map((index) => ({
        id: ids[index] as number,
        at: (index % 2 === 0 ? new Date(ats[index]!) : ats[index]!) as number,
      }));
      const lake = new Lake(folder, { mode: "overwrite" });
      written.write(lake.parquet("by_at", rows, { sortBy: ["at"] }));
      written.write(lake.parquet("by_id", rows, { sortBy: ["id"] }));
      await runDirect(p, {});
      const inFileOrder = async (table: string) => {
        const back = new Pipeline();
        const { outputs } = await runDirect(back, {
          // As text: a bigint does not cross to the caller.
          rows: back
            .read(parquetDataset<{ id: bigint; at: bigint }>(join(folder, table), { int64: "bigint" }))
            .map((row) => [String(row.id), String(row.at)] as const)
            .collect(),
        });
        return outputs.rows;
      };
      assert.deepEqual(
        (await inFileOrder("by_at")).map(([, at]) => Number(at)),
        [...ats].sort((a, b) => a - b),
      );
      assert.deepEqual(
        (await inFileOrder("by_id")).map(([id]) => BigInt(id)),
        [-3n, 7n, 40n, 2n ** 53n + 1n, 2n ** 60n],
      );
    });
  });

  it("a failed run leaves the previous output as it was and no staged files", async () => {
    await withTempDir(async (folder) => {
      const before = Array.from({ length: 30 }, (_, index) => item(index));
      await writeItems.run({ items: before, output: folder, mode: "overwrite" }, { runner: "direct" });
      const listing = async () => (await readdir(join(folder, "items"), { recursive: true })).sort();
      const filesBefore = await listing();
      for (const runner of ["direct", "pool"] as const) {
        await assert.rejects(
          writeItems.run(
            {
              items: Array.from({ length: 3000 }, (_, index) => item(index)),
              output: folder,
              mode: "overwrite",
              failAtId: 2500,
              splits: 4,
            },
            { runner, threads: 2, batchSize: 100 },
          ),
          /item 2500 is poisoned/,
        );
        assert.deepEqual(await listing(), filesBefore);
        assert.deepEqual(
          (await readItems(join(folder, "items"), false)).map((row) => row.id),
          before.map((entry) => entry.id),
        );
        assert.deepEqual(await readdir(folder), ["items"], "no _temporary left behind");
      }
    });
  });

  it("the next run finishes a commit that was interrupted after its journal, before anything else", async () => {
    await withTempDir(async (folder) => {
      await writeItems.run({ items: [item(1)], output: folder, mode: "overwrite" }, { runner: "direct" });
      // A run killed after writing its journal and moving the old table away: simulate its leftovers.
      const runId = "20260101T000000-abcdef";
      const temporary = join(folder, "_temporary", runId);
      await mkdir(join(temporary, "_old"), { recursive: true });
      const { rename } = await import("node:fs/promises");
      await writeItems.run(
        { items: [item(7), item(8)], output: join(folder, "staging"), mode: "overwrite" },
        { runner: "direct" },
      );
      await rename(join(folder, "staging", "items"), join(temporary, "items"));
      await rename(join(folder, "items"), join(temporary, "_old", "items"));
      await writeFile(join(temporary, "_journal.json"), JSON.stringify({ runId, tables: ["items"] }));
      // The next run, in error-if-exists mode, first completes that commit, then finds the table present.
      await assert.rejects(
        writeItems.run({ items: [item(9)], output: folder, mode: "error-if-exists" }, { runner: "direct" }),
        /already exists/,
      );
      assert.deepEqual(
        (await readItems(join(folder, "items"), false)).map((row) => row.id),
        [7, 8],
      );
      assert.ok((await readdir(join(folder, "items"))).includes("_SUCCESS"));
      assert.ok(!(await readdir(folder)).includes("_temporary"));
    });
  });
});
