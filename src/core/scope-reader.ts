/**
 * The variables a function closes over, read through V8's inspector in this thread's own isolate
 * (`[[Scopes]]`, as a debugger shows them): module-state.ts compares them between threads. A
 * session on the thread's own isolate answers at once, so nothing here waits.
 */

/** Any function: a transform's, or one it calls. */
export type AnyFunction = (...args: never) => unknown;

interface InspectorSession {
  post(method: string, params: object, callback: (error: Error | null, result: unknown) => void): void;
  connect(): void;
  disconnect(): void;
}

/** The inspector's Session class, or undefined in a Node built without it. */
let sessionClass: (new () => InspectorSession) | undefined | null;

/** Loads the inspector, once per thread, before `openScopeReader` can open a reader. */
export async function loadInspector(): Promise<void> {
  if (sessionClass !== undefined) return;
  try {
    sessionClass = (await import("node:inspector")).Session as unknown as new () => InspectorSession;
  } catch {
    sessionClass = null;
  }
}

/**
 * A reader on this thread's isolate, or undefined where Node has no inspector (or `loadInspector`
 * has not run) or it cannot be opened. Synchronous, and to be closed before anything is awaited:
 * the inspector hands scopes back through one global, and two readers open at once in a thread
 * (two runs started together) would take each other's.
 */
export function openScopeReader(): ScopeReader | undefined {
  if (!sessionClass) return undefined;
  try {
    return new ScopeReader(sessionClass);
  } catch {
    return undefined;
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

export interface Scope {
  readonly kind: string;
  readonly variables: Record<string, unknown>;
}

export interface FunctionShape {
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
export class ScopeReader {
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
