/**
 * What a pipeline's transforms read from outside themselves: the variables of their modules and
 * closures, as the main thread holds them and as a worker holds them after importing the module
 * afresh. Workers never receive functions, only the module that defines them; a value the main
 * thread set after the import (`setThreshold(5)` from the entry script, `settings.limit = 10`)
 * stays at its imported value in every worker, and the pool would give another answer than the
 * direct runner without a word. The fingerprint of the graph cannot see that (the transforms are
 * the same code); reading the values can.
 *
 * Closures are read through V8's inspector (`[[Scopes]]`, as a debugger shows them), in the
 * thread's own isolate, only for the names a function's source mentions: its own variables, and
 * through the functions it calls, theirs (within the module, and through closures). Compared:
 * primitives, and plain objects and arrays deep (up to `MAX_NODES` values each). Not compared:
 * Maps, Sets, class instances and promises, whose contents differ between threads by design (a
 * cache a transform fills, a client and its sockets, a module loaded on first use); the value a
 * pipeline's build was given (its options: workers get them less the driver-only ones).
 */
import { createHash, type Hash } from "node:crypto";
import type { Graph, GraphNode } from "./graph.js";

/** Any function: a transform's, or one it calls. */
type AnyFunction = (...args: never) => unknown;

/** One variable a transform reads, as one thread holds it. */
export interface StateReading {
  readonly transform: string;
  readonly variable: string;
  /** A hash of the value, deep for plain data. */
  readonly digest: string;
  /** The value in a few characters, for the message that names it. */
  readonly shown: string;
}

/** A variable that holds one value on the main thread and another in a worker. */
export interface StateDifference {
  readonly transform: string;
  readonly variable: string;
  readonly driver: string;
  readonly worker: string;
}

/** Values of one variable compared, at most: a table built in the module is compared by its first part. */
const MAX_NODES = 20_000;
/** Functions followed from one transform, at most, and how deep. */
const MAX_FUNCTIONS = 200;
const MAX_DEPTH = 8;

interface InspectorSession {
  post(method: string, params: object, callback: (error: Error | null, result: unknown) => void): void;
  connect(): void;
  disconnect(): void;
}

/** The inspector's Session class, or undefined in a Node built without it. */
let sessionClass: (new () => InspectorSession) | undefined | null;

async function loadInspector(): Promise<void> {
  if (sessionClass !== undefined) return;
  try {
    sessionClass = (await import("node:inspector")).Session as unknown as new () => InspectorSession;
  } catch {
    sessionClass = null;
  }
}

interface RemoteObject {
  readonly type: string;
  readonly objectId?: string;
  readonly description?: string;
  readonly value?: unknown;
}

interface PropertyDescriptor {
  readonly name: string;
  readonly value?: RemoteObject;
}

interface Scope {
  readonly kind: string;
  readonly variables: Record<string, unknown>;
}

interface FunctionShape {
  readonly scriptId: string | undefined;
  /** Innermost first, the global scope left out. */
  readonly scopes: readonly Scope[];
}

/** Global keys through which this thread hands a function to the inspector, and it a scope back. */
const OUTGOING = Symbol.for("sluice.moduleState.function");
const INCOMING = Symbol.for("sluice.moduleState.scope");
const OBJECT_GROUP = "sluice-module-state";
const globals = globalThis as Record<symbol, unknown>;

/** One inspector session on this thread's isolate, for one reading of a graph. */
class ScopeReader {
  private readonly session: InspectorSession;
  private handed: unknown;
  private readonly shapes = new Map<AnyFunction, FunctionShape>();

  constructor(Session: new () => InspectorSession) {
    this.session = new Session();
    this.session.connect();
    globals[INCOMING] = (value: unknown) => {
      this.handed = value;
    };
  }

  close(): void {
    try {
      this.post("Runtime.releaseObjectGroup", { objectGroup: OBJECT_GROUP });
    } finally {
      delete globals[INCOMING];
      delete globals[OUTGOING];
      this.session.disconnect();
    }
  }

  /** A session on the thread's own isolate answers at once: the callback has run when post returns. */
  private post<Result>(method: string, params: object): Result {
    let failure: Error | null = null;
    let answer: unknown;
    this.session.post(method, params, (error, result) => {
      failure = error;
      answer = result;
    });
    if (failure) throw failure;
    return answer as Result;
  }

  /** Where a function is defined and the scopes it closes over. */
  shapeOf(fn: AnyFunction): FunctionShape {
    let shape = this.shapes.get(fn);
    if (!shape) {
      shape = this.readShape(fn);
      this.shapes.set(fn, shape);
    }
    return shape;
  }

  private readShape(fn: AnyFunction): FunctionShape {
    globals[OUTGOING] = fn;
    const remote = this.post<{ result: RemoteObject }>("Runtime.evaluate", {
      expression: `globalThis[Symbol.for("sluice.moduleState.function")]`,
      objectGroup: OBJECT_GROUP,
    });
    globals[OUTGOING] = undefined;
    const { internalProperties = [] } = this.post<{ internalProperties?: PropertyDescriptor[] }>(
      "Runtime.getProperties",
      { objectId: remote.result.objectId, ownProperties: true, objectGroup: OBJECT_GROUP },
    );
    const location = internalProperties.find((property) => property.name === "[[FunctionLocation]]");
    const scriptId = (location?.value?.value as { scriptId?: string } | undefined)?.scriptId;
    const scopesId = internalProperties.find((property) => property.name === "[[Scopes]]")?.value?.objectId;
    if (scopesId === undefined) return { scriptId, scopes: [] };
    const { result } = this.post<{ result: PropertyDescriptor[] }>("Runtime.getProperties", {
      objectId: scopesId,
      ownProperties: true,
      objectGroup: OBJECT_GROUP,
    });
    const scopes: Scope[] = [];
    for (const entry of result) {
      const description = entry.value?.description ?? "";
      if (
        !/^\d+$/.test(entry.name) ||
        entry.value?.objectId === undefined ||
        description.startsWith("Global")
      )
        continue;
      this.post("Runtime.callFunctionOn", {
        objectId: entry.value.objectId,
        functionDeclaration: `function () { globalThis[Symbol.for("sluice.moduleState.scope")](this); }`,
        objectGroup: OBJECT_GROUP,
      });
      const scope = this.handed as { object?: Record<string, unknown> } | undefined;
      this.handed = undefined;
      if (scope?.object) scopes.push({ kind: description.split(" ")[0]!, variables: scope.object });
    }
    return { scriptId, scopes };
  }
}

/**
 * The variables the graph's transforms read, as this thread holds them; empty where Node has no
 * inspector. `builtFrom`: the options the build was given, which are not compared. `firstSeen`:
 * module variables as this thread first read them (a worker's, from before its tasks changed any).
 */
export async function readModuleState(
  graph: Graph,
  builtFrom: unknown,
  firstSeen?: Map<string, { digest: string; shown: string }>,
): Promise<StateReading[]> {
  await loadInspector();
  if (!sessionClass) return [];
  let reader: ScopeReader;
  try {
    reader = new ScopeReader(sessionClass);
  } catch {
    return []; // an inspector that cannot be opened here: nothing is read, nothing is refused
  }
  const readings: StateReading[] = [];
  try {
    for (const node of graph.nodes) {
      const seen = new Set<string>();
      const followed = new Set<AnyFunction>();
      const read = (fn: AnyFunction, depth: number): void => {
        if (followed.has(fn) || followed.size >= MAX_FUNCTIONS || depth > MAX_DEPTH) return;
        followed.add(fn);
        const source = Function.prototype.toString.call(fn);
        if (source.endsWith("[native code] }")) return;
        const names = namesIn(source);
        const shape = reader.shapeOf(fn);
        for (const scope of shape.scopes) {
          for (const name of names) {
            if (!Object.hasOwn(scope.variables, name)) continue;
            names.delete(name); // an inner scope's variable hides an outer one's
            const value = scope.variables[name];
            if (typeof value === "function") {
              const callee = value as AnyFunction;
              // A module's own functions and a closure's are followed; another module's are its own business.
              if (scope.kind !== "Module" || reader.shapeOf(callee).scriptId === shape.scriptId)
                read(callee, depth + 1);
              continue;
            }
            if (value === builtFrom || seen.has(name) || !isCompared(value)) continue;
            seen.add(name);
            const moduleLevel = scope.kind === "Module" || scope.kind === "Script";
            const key = `${shape.scriptId}/${name}`;
            let found = moduleLevel ? firstSeen?.get(key) : undefined;
            if (!found) {
              const { digest, showable } = digestOf(value);
              found = { digest, shown: shownValue(value, showable) };
              if (moduleLevel) firstSeen?.set(key, found);
            }
            readings.push({ transform: node.name, variable: name, ...found });
          }
        }
      };
      for (const fn of functionsOf(node)) read(fn, 0);
    }
  } catch {
    // A scope the inspector could not read, or a value that threw as it was read (a Proxy): what
    // was read stands, and only what both threads read is compared.
  } finally {
    try {
      reader.close();
    } catch {
      // The session is gone with its objects either way.
    }
  }
  return readings;
}

/** The first variable whose value differs between the main thread's readings and a worker's. */
export function firstDifference(
  driver: readonly StateReading[],
  worker: readonly StateReading[],
): StateDifference | undefined {
  const ours = new Map(worker.map((reading) => [`${reading.transform}\0${reading.variable}`, reading]));
  for (const reading of driver) {
    const other = ours.get(`${reading.transform}\0${reading.variable}`);
    if (other && other.digest !== reading.digest) {
      return {
        transform: reading.transform,
        variable: reading.variable,
        driver: reading.shown,
        worker: other.shown,
      };
    }
  }
  return undefined;
}

/** The user functions a transform holds: its function, a sort's key, a combiner's functions. */
function functionsOf(node: GraphNode): AnyFunction[] {
  switch (node.kind) {
    case "map":
    case "flatMap":
    case "filter":
    case "withOutputs":
      return [node.fn];
    case "sort":
      return [node.by];
    case "shuffle":
      return node.combiner
        ? Object.values(node.combiner).filter((value): value is AnyFunction => typeof value === "function")
        : [];
    default:
      return [];
  }
}

/** Identifiers in a function's source, less property names (`a.b` names `a` only). */
function namesIn(source: string): Set<string> {
  const names = new Set<string>();
  for (const match of source.matchAll(/[A-Za-z_$][\w$]*/g)) {
    const at = match.index;
    if (at > 0 && /[\w$]/.test(source[at - 1]!)) continue; // the tail of a number or a longer word
    if (at > 0 && source[at - 1] === "." && source[at - 2] !== ".") continue;
    names.add(match[0]);
  }
  return names;
}

function isPlainContainer(value: object): boolean {
  if (Array.isArray(value)) return true;
  const prototype = Object.getPrototypeOf(value);
  return prototype === Object.prototype || prototype === null;
}

/** Primitives and plain data: other objects hold state a thread may keep to itself. */
function isCompared(value: unknown): boolean {
  return typeof value !== "object" || value === null || isPlainContainer(value);
}

/** A hash of the value, and whether JSON can show it (no getter to call, no cycle, not large). */
function digestOf(value: unknown): { digest: string; showable: boolean } {
  const hash = createHash("sha256");
  let budget = MAX_NODES;
  let writtenOut = true;
  const onPath = new Set<object>();
  const visit = (item: unknown): void => {
    if (--budget < 0) return;
    if (typeof item !== "object" || item === null) {
      hash.update(primitiveText(item));
      hash.update("\0");
      return;
    }
    if (!isPlainContainer(item)) {
      hash.update(`instance ${item.constructor?.name ?? "?"}\0`);
      return;
    }
    if (onPath.has(item)) {
      hash.update("cycle\0");
      writtenOut = false;
      return;
    }
    onPath.add(item);
    if (Array.isArray(item)) {
      hash.update(`[${item.length}\0`);
      for (let index = 0; index < item.length && budget > 0; index++) visit(item[index]);
    } else {
      hash.update("{\0");
      for (const key of Object.keys(item)) {
        if (budget <= 0) break;
        hashText(hash, key);
        // A getter is not called: reading a value must not run the module's code.
        const property = Object.getOwnPropertyDescriptor(item, key)!;
        if ("value" in property) visit(property.value);
        else {
          hash.update("accessor\0");
          writtenOut = false;
        }
      }
    }
    hash.update("}\0");
    onPath.delete(item);
  };
  visit(value);
  // Past a hundred values, the value is not written out in full to show its start.
  return { digest: hash.digest("hex").slice(0, 16), showable: writtenOut && MAX_NODES - budget <= 100 };
}

function hashText(hash: Hash, text: string): void {
  hash.update(`${text.length}:`);
  hash.update(text);
}

function primitiveText(value: unknown): string {
  switch (typeof value) {
    case "string":
      return `s${value.length}:${value}`;
    case "number":
      return Object.is(value, -0) ? "n-0" : `n${value}`;
    case "bigint":
      return `b${value}`;
    case "symbol":
      return `y${value.description ?? ""}`;
    case "function":
      return `f${value.name}`;
    default:
      return String(value);
  }
}

/** The value as a message shows it: JSON where it can and fits in 60 characters. */
function shownValue(value: unknown, showable: boolean): string {
  if (typeof value === "bigint") return `${value}n`;
  if (typeof value === "symbol" || typeof value === "undefined") return String(value);
  if (typeof value === "number" && !Number.isFinite(value)) return String(value);
  const text = showable ? jsonOf(value) : undefined;
  if (text === undefined)
    return Array.isArray(value)
      ? `an array of ${value.length}`
      : `an object of ${Object.keys(value as object).length} members`;
  return text.length <= 60 ? text : `${text.slice(0, 57)}...`;
}

/** JSON of plain data, bigints as `5n`. */
function jsonOf(value: unknown): string | undefined {
  return JSON.stringify(value, (_key, item: unknown) => (typeof item === "bigint" ? `${item}n` : item)) as
    | string
    | undefined;
}
