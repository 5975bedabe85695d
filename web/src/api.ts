// The operator API on the same origin. The key lives in sessionStorage for this tab only.

const KEY = "silkcharge.apiKey";

export class ApiError extends Error {
  /** `retryAfter`: the seconds a 429 (or 503) says to wait, from its Retry-After header. */
  constructor(readonly status: number, readonly detail: unknown, readonly retryAfter: number | null = null,
              readonly body: unknown = null) {
    super(`HTTP ${status}`);
  }
}

/** The request never reached the API (no network, the server down or unreachable): what
 * `fetch` throws as a bare TypeError, named so a page can say so in its own words. */
export class Unreachable extends Error {
  constructor(readonly failure: unknown) {
    super("the server could not be reached");
  }
}

/** Retry-After in seconds; the HTTP-date form is not used by this API and reads as null. */
function retryAfter(response: Response): number | null {
  const seconds = Number(response.headers.get("Retry-After") ?? NaN);
  return Number.isFinite(seconds) && seconds >= 0 ? seconds : null;
}

export const apiKey = {
  get: (): string | null => sessionStorage.getItem(KEY),
  set: (key: string) => sessionStorage.setItem(KEY, key),
  clear: () => sessionStorage.removeItem(KEY),
};

function headers(): Record<string, string> {
  const key = apiKey.get();
  return key ? { "X-API-Key": key } : {};
}

export async function api<T>(path: string, init: RequestInit = {}): Promise<T> {
  let response: Response;
  try {
    response = await fetch(`/api/v1${path}`, {
      ...init,
      headers: { "Content-Type": "application/json", ...headers(), ...(init.headers ?? {}) },
    });
  } catch (error) {
    // An abort stays what it is; a failed request is a TypeError with the browser's own words.
    throw error instanceof TypeError ? new Unreachable(error) : error;
  }
  // a 204 may still say application/json (FastAPI's default): no body is null, not a parse error
  const text = response.headers.get("content-type")?.includes("json") ? await response.text() : "";
  const body = text ? JSON.parse(text) : null;
  if (!response.ok) throw new ApiError(response.status, body?.detail ?? body, retryAfter(response), body);
  return body as T;
}

export interface LiveEvent {
  event: string;
  station_id: string;
  [field: string]: unknown;
}

/** Server-sent events read with fetch(), because EventSource cannot send the X-API-Key
 * header. Reconnects after a pause until `signal` aborts; `onOpen` runs on every (re)connect
 * so the caller can re-read the state it may have missed. */
export async function streamEvents(
  onEvent: (event: LiveEvent) => void,
  onOpen: () => void,
  onClose: () => void,
  signal: AbortSignal,
): Promise<void> {
  while (!signal.aborted) {
    try {
      const response = await fetch("/api/v1/events", { headers: headers(), signal });
      if (!response.ok || !response.body) throw new ApiError(response.status, null);
      onOpen();
      const reader = response.body.pipeThrough(new TextDecoderStream()).getReader();
      let buffer = "";
      for (;;) {
        const { value, done } = await reader.read();
        if (done) break;
        buffer += value;
        let end: number;
        while ((end = buffer.indexOf("\n\n")) >= 0) {
          const data = buffer
            .slice(0, end)
            .split("\n")
            .filter((line) => line.startsWith("data:"))
            .map((line) => line.slice(5).trim())
            .join("\n");
          buffer = buffer.slice(end + 2);
          if (data) onEvent(JSON.parse(data) as LiveEvent);
        }
      }
    } catch (error) {
      if (signal.aborted) return;
    }
    onClose();
    await new Promise((resume) => setTimeout(resume, 2000));
  }
}
