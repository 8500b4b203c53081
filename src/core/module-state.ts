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
 * primitives, and plain objects and arrays deep (value-digest.ts). Not compared:
 * Maps, Sets, class instances and promises, whose contents differ between threads by design (a
 * cache a transform fills, a client and its sockets, a module loaded on first use); the value a
 * pipeline's build was given (its options: workers get them less the driver-only ones).
 */
import type { Graph, GraphNode } from "./graph.js";
import { type AnyFunction, loadInspector, openScopeReader, type ScopeReader } from "./scope-reader.js";
import { isPlain } from "./shared-records.js";
import { digestOf, isCompared, shownValue } from "./value-digest.js";

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

/** Functions followed from one transform, at most, and how deep. */
const MAX_FUNCTIONS = 200;
const MAX_DEPTH = 8;
/** Members of an object searched for functions, at most. */
const MAX_MEMBERS = 256;

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
  // From here to the reader's close, nothing is awaited (openScopeReader says why).
  const reader = openScopeReader();
  if (!reader) return []; // no inspector here: nothing is read, nothing is refused
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
            // A module's own functions and a closure's are followed; another module's are its own
            // business. So are the functions a plain object there holds (`helpers.scaled(x)`, or
            // the combiner a wrapper calls): a class's instance is not followed into (a client's
            // methods would lead through a library's code).
            const follows = (callee: AnyFunction) =>
              scope.kind !== "Module" || reader.shapeOf(callee).scriptId === shape.scriptId;
            if (typeof value === "function") {
              if (follows(value as AnyFunction)) read(value as AnyFunction, depth + 1);
              continue;
            }
            if (isPlain(value) && !Array.isArray(value)) {
              for (const member of functionsHeld(value, reader)) if (follows(member)) read(member, depth + 1);
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
      for (const fn of functionsOf(node, reader)) read(fn, 0);
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

/**
 * The user functions a transform holds: its function, a sort's key, a combiner's functions, a
 * source's or a sink's (`read` of a source of your own runs in the workers, as a map does).
 */
function functionsOf(node: GraphNode, reader: ScopeReader): AnyFunction[] {
  switch (node.kind) {
    case "map":
    case "flatMap":
    case "filter":
    case "withOutputs":
      return [node.fn];
    case "sort":
      return [node.by];
    case "shuffle":
      return node.combiner ? functionsHeld(node.combiner, reader) : [];
    case "source":
      return functionsHeld(node.source, reader);
    case "sink":
      return functionsHeld(node.sink, reader);
    default:
      return [];
  }
}

/** Prototypes of sluice's own sources and sinks: the functions they were given are read, not their methods. */
const ownPrototypes = new WeakSet<object>();

/**
 * Marks classes of sluice's own whose methods read only the instance (a source's files, a sink's
 * table): reading their methods' modules would compare sluice's state, not the pipeline's. The
 * functions an instance holds (a generator's `generate`) are read still.
 */
export function readsOnlyWhatItHolds(...classes: { readonly prototype: object }[]): void {
  for (const given of classes) ownPrototypes.add(given.prototype);
}

/**
 * The functions an object holds: its own members', a plain member's (a sink's options), and the
 * methods along its prototype chain (a class of your own, or the object a combiner was made from),
 * up to Object.prototype or a prototype of sluice's own. A base class from another module (a
 * library's) is that module's business, as a function it exports is: its methods are left out.
 * Getters are not called.
 */
function functionsHeld(object: object, reader: ScopeReader): AnyFunction[] {
  const found = new Set<AnyFunction>();
  const take = (holder: object, nested: boolean) => {
    const members = Reflect.ownKeys(holder);
    // An object of hundreds of members is data (a dictionary a transform reads), not code.
    if (members.length > MAX_MEMBERS) return;
    for (const member of members) {
      if (member === "constructor") continue;
      const value = Object.getOwnPropertyDescriptor(holder, member)?.value;
      if (typeof value === "function") found.add(value as AnyFunction);
      else if (nested && isPlain(value) && !Array.isArray(value)) take(value, false);
    }
  };
  take(object, true);
  let home: string | undefined; // the script of the most derived class along the chain
  for (
    let prototype = Object.getPrototypeOf(object);
    prototype !== null && prototype !== Object.prototype && !ownPrototypes.has(prototype);
    prototype = Object.getPrototypeOf(prototype)
  ) {
    const owner = Object.getOwnPropertyDescriptor(prototype, "constructor")?.value;
    if (typeof owner === "function") {
      const script = reader.shapeOf(owner as AnyFunction).scriptId;
      home ??= script;
      if (script !== home) break;
    }
    take(prototype, false);
  }
  return [...found];
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
