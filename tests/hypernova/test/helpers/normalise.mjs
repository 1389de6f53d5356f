// What of an answer the parity test compares, with what legitimately differs
// between two servers normalised away: how long a job took, the stack frames
// of the server's own code, the uuids the Hypernova client makes up.

const DURATION = /"duration":(-?\d+(?:\.\d+)?(?:[eE][-+]?\d+)?)/g;

/**
 * The JSON text of a body with every job duration replaced by 0. A duration
 * key cannot occur inside a JSON string (its quotes would be escaped), so a
 * textual replacement touches durations only.
 */
export function withoutDurations(text) {
  return text.replace(DURATION, '"duration":0');
}

/**
 * A stack as Hypernova sends it (`error.stack.split("\n    ")`) without the
 * frames, which name files and lines of each server's own code (the service
 * sends the bundle's frames only with --debug-errors). The first entry (the
 * `Name: message` line, or "" for a thrown non-Error) stays, and so does
 * Hypernova's synthetic frame naming an unregistered component.
 */
export function withoutFrames(stack) {
  if (!Array.isArray(stack)) return stack;
  return stack.filter(
    (line, i) =>
      i === 0 ||
      typeof line !== "string" ||
      !line.startsWith("at ") ||
      line.startsWith("at YOUR-COMPONENT-DID-NOT-REGISTER_"),
  );
}

function normaliseError(error) {
  if (error === null || typeof error !== "object" || Array.isArray(error)) return error;
  return "stack" in error ? { ...error, stack: withoutFrames(error.stack) } : error;
}

/** A batch answer's JSON value with stacks reduced to their first lines. */
export function normaliseBatch(value) {
  if (value === null || typeof value !== "object" || Array.isArray(value)) return value;
  const out = { ...value };
  if ("error" in out) out.error = normaliseError(out.error);
  if (out.results !== null && typeof out.results === "object" && !Array.isArray(out.results)) {
    out.results = Object.fromEntries(
      Object.entries(out.results).map(([token, result]) => [
        token,
        result !== null && typeof result === "object" && "error" in result
          ? { ...result, error: normaliseError(result.error) }
          : result,
      ]),
    );
  }
  return out;
}

const UUID = /[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}/g;

/** Text with every uuid replaced by a placeholder. */
export function withoutUuids(text) {
  return text.replace(UUID, "<uuid>");
}

/**
 * The part of an HTTP answer the test compares: status, the Content-Type
 * media type (its parameters have a test of their own) and the body: its
 * text when it is not JSON, else the normalised JSON value written with
 * JSON.stringify (so key order counts). `compact` tells whether the body,
 * durations aside, is exactly what JSON.stringify writes for its value, as
 * Express's res.json() sends it.
 */
export function comparable(reply) {
  const contentType = reply.headers["content-type"];
  const mediaType = contentType === undefined ? null : contentType.split(";")[0].trim().toLowerCase();
  let body = reply.body;
  let compact = null;
  if (mediaType === "application/json" && reply.body !== "") {
    const text = withoutDurations(reply.body);
    let value;
    try {
      value = JSON.parse(text);
    } catch {
      value = undefined;
    }
    if (value !== undefined) {
      compact = JSON.stringify(value) === text;
      body = JSON.stringify(normaliseBatch(value), null, 1);
    }
  }
  return { status: reply.status, mediaType, body, compact };
}
