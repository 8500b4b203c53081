/**
 * A fault-injecting HTTP proxy on 127.0.0.1, between the AWS SDK and the local S3 server. A plan
 * picks, for each request, what happens: pass it through, answer 503 SlowDown or 500, cut the
 * response body off half way (a reset connection), or stall it half way (past the client's timeout).
 */
import { createServer, request as forward, type IncomingMessage, type ServerResponse } from "node:http";
import type { Socket } from "node:net";

export type Fault = "pass" | "slowdown" | "internal" | "forbidden" | "reset-mid-body" | "stall";

export interface RequestInfo {
  readonly method: string;
  readonly url: string;
  /** 0-based count of requests the proxy has seen. */
  readonly index: number;
}

export interface FaultProxy {
  readonly endpoint: string;
  readonly injected: Record<Fault, number>;
  requests: number;
  /** The most requests of each kind (`ProxyOptions.kindOf`) that were under way at once. */
  readonly mostAtOnce: Record<string, number>;
  /** Requests of each kind received so far. */
  readonly seen: Record<string, number>;
  /** Response body bytes passed through to the client. */
  bytesOut: number;
  close(): Promise<void>;
}

const ERROR_BODY = (code: string, message: string) =>
  `<?xml version="1.0" encoding="UTF-8"?><Error><Code>${code}</Code><Message>${message}</Message></Error>`;

export interface ProxyOptions {
  /** Held before each request goes on, as the round trip to a distant S3 takes. */
  readonly latencyMs?: number;
  /** The kind of a request, for `mostAtOnce` ("complete-upload"); undefined: not counted. */
  readonly kindOf?: (request: RequestInfo) => string | undefined;
}

export async function startFaultProxy(
  target: string,
  plan: (request: RequestInfo) => Fault,
  options: ProxyOptions = {},
): Promise<FaultProxy> {
  const upstream = new URL(target);
  const sockets = new Set<Socket>();
  const injected: Record<Fault, number> = {
    pass: 0,
    slowdown: 0,
    internal: 0,
    forbidden: 0,
    "reset-mid-body": 0,
    stall: 0,
  };
  const underWay: Record<string, number> = {};
  const proxy: FaultProxy = {
    endpoint: "",
    injected,
    mostAtOnce: {},
    seen: {},
    requests: 0,
    bytesOut: 0,
    close: async () => undefined,
  };
  const server = createServer((request, response) => {
    const info = { method: request.method ?? "GET", url: request.url ?? "/", index: proxy.requests++ };
    const kind = options.kindOf?.(info);
    if (kind !== undefined) {
      proxy.seen[kind] = (proxy.seen[kind] ?? 0) + 1;
      underWay[kind] = (underWay[kind] ?? 0) + 1;
      proxy.mostAtOnce[kind] = Math.max(proxy.mostAtOnce[kind] ?? 0, underWay[kind]);
      response.on("close", () => {
        underWay[kind]! -= 1;
      });
    }
    if (options.latencyMs) {
      request.pause();
      setTimeout(() => handle(request, response, plan(info)), options.latencyMs);
    } else handle(request, response, plan(info));
  });
  const handle = (request: IncomingMessage, response: ServerResponse, fault: Fault) => {
    injected[fault]++;
    if (fault === "slowdown" || fault === "internal" || fault === "forbidden") {
      request.resume();
      const [status, code, message] =
        fault === "slowdown"
          ? [503, "SlowDown", "Please reduce your request rate."]
          : fault === "internal"
            ? [500, "InternalError", "We encountered an internal error."]
            : [403, "AccessDenied", "Access Denied"];
      response.writeHead(status, { "content-type": "application/xml" });
      response.end(ERROR_BODY(code, message));
      return;
    }
    const outgoing = forward(
      {
        host: upstream.hostname,
        port: upstream.port,
        method: request.method,
        path: request.url,
        headers: request.headers,
      },
      (answer: IncomingMessage) => {
        response.writeHead(answer.statusCode ?? 502, answer.headers);
        if (fault === "pass") {
          answer.on("data", (chunk: Buffer) => {
            proxy.bytesOut += chunk.byteLength;
          });
          answer.pipe(response);
          return;
        }
        const chunks: Buffer[] = [];
        answer.on("data", (chunk: Buffer) => chunks.push(chunk));
        answer.on("end", () => {
          const body = Buffer.concat(chunks);
          response.write(body.subarray(0, Math.floor(body.length / 2)));
          // A reset cuts the connection now; a stall keeps it open and silent until the client gives up.
          if (fault === "reset-mid-body") response.socket?.destroy();
        });
      },
    );
    outgoing.on("error", () => response.destroy());
    request.pipe(outgoing);
    request.resume();
  };
  server.on("connection", (socket) => {
    sockets.add(socket);
    socket.on("close", () => sockets.delete(socket));
  });
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  const address = server.address();
  if (typeof address !== "object" || address === null) throw new Error("the proxy has no address");
  return Object.assign(proxy, {
    endpoint: `http://127.0.0.1:${address.port}`,
    close: async () => {
      for (const socket of sockets) socket.destroy();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  });
}
