import type { Server, ServerWebSocket } from "bun";

/** What a WebSocket carries in `ws.data`: the stream that feeds it. */
export interface SocketSession {
  open(ws: ServerWebSocket<SocketSession>): void;
  close(): void;
}

export type ControllerServer = Server<SocketSession>;

/** Per-request facts Elysia does not know: which listener took it, and whether it was upgraded. */
export interface RequestInfo {
  server: ControllerServer;
  /** The unix-socket listener: no secret check (mihomo). */
  trusted: boolean;
  upgraded: boolean;
}

export class RequestRegistry {
  private readonly map = new WeakMap<Request, RequestInfo>();

  set(request: Request, info: RequestInfo): void {
    this.map.set(request, info);
  }

  get(request: Request): RequestInfo | undefined {
    return this.map.get(request);
  }
}

/**
 * A message source: called with `emit`, it starts producing (one JSON text plus "\n" per message)
 * and returns the function that stops it.
 */
export type Producer = (emit: (text: string) => void) => () => void;

/** mihomo drops log events beyond 1024 queued per subscriber; slow clients lose messages, never memory. */
const HTTP_QUEUE_MAX = 1024;
const WS_BUFFER_MAX = 1024 * 1024;

export function wantsWebSocket(request: Request): boolean {
  return (request.headers.get("upgrade") ?? "").toLowerCase().includes("websocket");
}

/**
 * Serve one stream on the same path as WebSocket (when the request asks to upgrade) or as
 * newline-delimited JSON over chunked HTTP. Validation and authentication have already run.
 */
export function serveStream(request: Request, info: RequestInfo | undefined, producer: Producer): Response | undefined {
  if (info && wantsWebSocket(request)) {
    let stop: (() => void) | undefined;
    const session: SocketSession = {
      open(ws) {
        stop = producer((text) => {
          if (ws.getBufferedAmount() <= WS_BUFFER_MAX) ws.send(text);
        });
      },
      close() {
        stop?.();
        stop = undefined;
      },
    };
    if (info.server.upgrade(request, { data: session })) {
      info.upgraded = true;
      return undefined;
    }
    return new Response("Bad Request\n", { status: 400, headers: { "content-type": "text/plain; charset=utf-8" } });
  }
  // An idle log stream must not be cut by the server's idle timeout.
  info?.server.timeout(request, 0);
  const encoder = new TextEncoder();
  let stop: (() => void) | undefined;
  const end = () => {
    stop?.();
    stop = undefined;
  };
  const body = new ReadableStream<Uint8Array>(
    {
      start(controller) {
        stop = producer((text) => {
          if ((controller.desiredSize ?? 0) > 0) controller.enqueue(encoder.encode(text));
        });
        request.signal.addEventListener("abort", () => {
          end();
          try {
            controller.close();
          } catch {
            // Already closed by the reader going away.
          }
        });
      },
      cancel: end,
    },
    new CountQueuingStrategy({ highWaterMark: HTTP_QUEUE_MAX }),
  );
  return new Response(body, { status: 200, headers: { "content-type": "application/json" } });
}
