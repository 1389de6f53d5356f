// Types for @ssr-pool/client (the ES module and CommonJS entries export the
// same API).

/// <reference types="node" />

import type { IncomingMessage, ServerResponse } from "node:http";

// ---------------------------------------------------------------- errors

/** Base class of every error the client throws or reports. */
export class SsrError extends Error {
  /** Component being rendered (or "batch of N" for a batch request). */
  component: string | undefined;
  /**
   * Machine-readable code: the service's error code (`unknown_component`,
   * `render_error`, `bad_request`, `body_too_large`, `overloaded`,
   * `queue_timeout`, ...), or `timeout`, `network_error`, `circuit_open`,
   * `invalid_response`, `job_failed`, `http_<status>`.
   */
  code: string | undefined;
}

/** The JSON error body of the service. */
export interface ServiceErrorBody {
  error: {
    status: number;
    code: string;
    message: string;
    details?: { name?: string; message?: string; stack?: string | null; [key: string]: unknown };
  };
}

/** The service answered with an error status (other than 504). */
export class SsrHttpError extends SsrError {
  status: number | undefined;
  /**
   * The service's JSON error (`{error: {status, code, message, details?}}`);
   * for a failed batch job, the job's Hypernova result; the raw text when
   * the body was not JSON.
   */
  body: ServiceErrorBody | HypernovaJobResult | string | undefined;
  /** Retry-After of the answer, in milliseconds. */
  retryAfterMs: number | undefined;
}

/**
 * The render did not finish in time: the client's deadline passed
 * (`status` undefined) or the service answered 504 (`status` 504).
 */
export class SsrTimeoutError extends SsrError {
  code: "timeout";
  timeoutMs: number | undefined;
  status: 504 | undefined;
  body: ServiceErrorBody | string | undefined;
}

/** The service could not be reached; `cause` is the underlying error. */
export class SsrNetworkError extends SsrError {
  code: "network_error";
}

/** The circuit breaker is open: the service was not called. */
export class SsrCircuitOpenError extends SsrError {
  code: "circuit_open";
  /** Milliseconds until the next probe may go out. */
  retryInMs: number;
}

// ---------------------------------------------------------------- client

export interface ErrorInfo {
  component: string;
  /** The data-ssr-id of the placeholder. */
  id: string;
  /** True when fallback markup was returned instead of throwing. */
  fallback: boolean;
}

export type CircuitState = "closed" | "open" | "half-open";

export interface CircuitBreakerOptions {
  /** Consecutive failures that open the circuit. Default 5. */
  failureThreshold?: number;
  /** How long the service is skipped before a probe, in ms. Default 10000. */
  cooldownMs?: number;
  onStateChange?: (state: CircuitState) => void;
}

export interface ClientOptions {
  /** Base URL of the service. Default "http://127.0.0.1:3000". */
  url?: string;
  /**
   * The service's app whose bundle renders (`"app"` of POST /render,
   * POST /apps/{app}/batch). Default: the service's `default` app.
   */
  app?: string;
  /**
   * Deadline of one render call, retries included, in ms. Default 5000.
   * The service is asked to stop a little earlier (see serverTimeoutMs).
   */
  timeoutMs?: number;
  /** Extra attempts after network errors and 503s. Default 2. */
  retries?: number;
  /** First back-off when the service gave no Retry-After, doubled per attempt, in ms. Default 50. */
  retryDelayMs?: number;
  /** Upper bound of any wait between attempts, Retry-After included, in ms. Default 1000. */
  maxRetryDelayMs?: number;
  /** Headers sent with every request. */
  headers?: Record<string, string>;
  /** Return client-render markup instead of throwing when the service fails. Default true. */
  fallback?: boolean;
  /** Called for every failed render (with or without fallback). */
  onError?: (error: SsrError, info: ErrorInfo) => void;
  /** Share one request between identical concurrent renders. Default false. */
  dedupe?: boolean;
  /** Skip the service after repeated failures. Default off; `true` uses the defaults. */
  circuitBreaker?: boolean | CircuitBreakerOptions;
  /** fetch implementation. Default: the global fetch. */
  fetch?: typeof globalThis.fetch;
  /** undici dispatcher passed to fetch (for a custom connection pool). */
  dispatcher?: unknown;
}

export interface RenderOptions {
  /** Deadline for this call in ms (overrides the client's timeoutMs). */
  timeoutMs?: number;
  /**
   * Deadline the service enforces, sent as the request's timeoutMs.
   * Default: the remaining client deadline minus 10% (at most 100 ms).
   */
  serverTimeoutMs?: number;
  /** Overrides the client's fallback setting for this call. */
  fallback?: boolean;
  /** false: return the bare server HTML (fallbacks are still placeholders). */
  wrap?: boolean;
  /** data-ssr-id of the placeholder. Default: a unique id. */
  id?: string;
  /** Props already serialized as JSON text (sent as is; must be valid JSON). */
  propsJson?: string;
  /** Extra headers for this request. */
  headers?: Record<string, string>;
  /** Cancels the call; it then rejects with the signal's reason (no fallback). */
  signal?: AbortSignal;
}

/** What renderStream resolves with, at the first byte of the answer. */
export interface RenderStreamResult {
  /**
   * UTF-8 bytes as the service streams them: the hydration markup around the
   * server HTML (bare with `wrap: false`), or the placeholder when `fallback`.
   * After the first byte a failure errors the stream (an SsrError, reported
   * to onError, or the signal's reason); cancelling it aborts the request.
   */
  stream: ReadableStream<Uint8Array>;
  /** The service's status (200); undefined for a fallback. */
  status: number | undefined;
  /** The service's answer headers (empty for a fallback). */
  headers: Headers;
  /** data-ssr-id of the markup. */
  id: string;
  /** True when the service failed before the first byte and `stream` is the placeholder. */
  fallback: boolean;
  /** The error behind a fallback. */
  error: SsrError | undefined;
}

export interface BatchJob {
  component?: string;
  /** Hypernova spelling of `component`. */
  name?: string;
  props?: unknown;
  /** Hypernova spelling of `props`. */
  data?: unknown;
  propsJson?: string;
  id?: string;
}

export interface BatchOptions {
  timeoutMs?: number;
  fallback?: boolean;
  wrap?: boolean;
  headers?: Record<string, string>;
  signal?: AbortSignal;
}

export interface BatchResult {
  component: string;
  id: string;
  /** True when the service rendered the job. */
  ok: boolean;
  /** True when `html` is a client-render placeholder. */
  fallback: boolean;
  /** Wrapped HTML, placeholder, or null (failed job with fallback off). */
  html: string | null;
  error: SsrError | undefined;
  statusCode: number | undefined;
  durationMs: number | undefined;
}

export interface HypernovaJobResult {
  name: unknown;
  html: string | null;
  meta: Record<string, unknown>;
  duration: number;
  statusCode: number;
  success: boolean;
  error: { type?: string; name: string; message: unknown; stack: string[] } | null;
}

export interface ClientStats {
  /** render calls plus batch jobs. */
  renders: number;
  /** Renders answered with server HTML. */
  ssr: number;
  /** Renders answered with a placeholder. */
  fallbacks: number;
  /** Failed renders (each reported to onError). */
  errors: number;
  /** HTTP requests sent. */
  requests: number;
  retries: number;
  /** Renders that joined an identical in-flight request. */
  deduped: number;
  /** Calls that skipped the service because the circuit was open. */
  circuitSkipped: number;
  /** Shared requests in flight. */
  inflight: number;
  circuit: CircuitState;
}

export interface SsrClient {
  readonly url: string;
  /** The client's default fallback setting. */
  readonly fallback: boolean;
  readonly circuitState: CircuitState;
  /**
   * Renders a component and returns hydration markup:
   * `<div data-ssr-component data-ssr-id>HTML</div><script type="application/json" data-ssr-props-for>`.
   * With fallback on (the default) it never rejects because of the service;
   * it returns an empty placeholder for client-side rendering instead.
   */
  render(component: string, props?: unknown, options?: RenderOptions): Promise<string>;
  /**
   * Renders a component and resolves once the first byte arrives, with the
   * rest as a stream (Suspense boundaries as React emits them). Before the
   * first byte it fails as render does (retries, circuit breaker, fallback);
   * no de-duplication. The deadline (timeoutMs) bounds the whole stream.
   */
  renderStream(component: string, props?: unknown, options?: RenderOptions): Promise<RenderStreamResult>;
  /** Renders several components with one POST /batch. Results are in job order. */
  renderBatch(jobs: BatchJob[], options?: BatchOptions): Promise<BatchResult[]>;
  /** True when GET /ready answers 200; false otherwise (never throws for service errors). */
  ready(options?: { timeoutMs?: number; signal?: AbortSignal }): Promise<boolean>;
  /** GET /health. */
  health(options?: { timeoutMs?: number; signal?: AbortSignal }): Promise<{ status: string }>;
  stats(): ClientStats;
}

export function createClient(options?: ClientOptions): SsrClient;

// ---------------------------------------------------------------- pages

export interface TemplateParts {
  /** Already HTML-escaped. */
  title: string;
  head: string;
  /** <script> tags for `scripts`. */
  scripts: string;
  lang: string;
  /** Put this exactly once where the rendered markup goes. */
  body: string;
}

export interface PageOptions {
  title?: string;
  /**
   * A string with `<!--ssr-outlet-->` (and optionally `<!--ssr-title-->`,
   * `<!--ssr-head-->`, `<!--ssr-scripts-->`), or a function of the parts.
   */
  template?: string | ((parts: TemplateParts) => string);
  /** Raw HTML added to <head> (trusted). */
  head?: string;
  /** Script URLs (classic scripts get `defer`) or {src, type}. */
  scripts?: string | Array<string | { src: string; type?: string }>;
  /** <html lang>. Default "en". */
  lang?: string;
  /** HTTP status of the page. Default 200. */
  status?: number;
  /** false: wait for the whole render instead of streaming it through. Default true. */
  stream?: boolean;
  /**
   * The component renders the whole document (<html>…): it is sent as it
   * streams, without the template (used only for a fallback page), and
   * nothing is sent before its first byte.
   */
  document?: boolean;
}

export type RenderPageOptions = PageOptions & RenderOptions;

/** Renders a full page to a string. */
export function renderPage(
  client: SsrClient,
  component: string,
  props?: unknown,
  options?: RenderPageOptions,
): Promise<string>;

/**
 * Writes a full page to a Node response, streaming the render through. With
 * fallback on, the head is sent at once and the markup follows as it
 * streams; with fallback off nothing is written before the first byte of the
 * render and a failure before it rejects. A failure after the first byte
 * destroys the response (and rejects only with fallback off).
 */
export function sendPage(
  client: SsrClient,
  res: ServerResponse,
  component: string,
  props?: unknown,
  options?: RenderPageOptions,
): Promise<void>;

/** The page around the markup, split where the markup goes. */
export function pageParts(options?: PageOptions): { before: string; after: string };

export type RenderSSR = (component: string, props?: unknown, options?: RenderPageOptions) => Promise<void>;

export interface SsrMiddleware {
  (req: IncomingMessage, res: ServerResponse & { renderSSR?: RenderSSR }, next: (error?: unknown) => void): void;
  readonly client: SsrClient;
}

/**
 * Express/Connect middleware adding `res.renderSSR(component, props, options)`.
 * `defaults` apply to every renderSSR call.
 */
export function ssrMiddleware(clientOrOptions?: SsrClient | ClientOptions, defaults?: RenderPageOptions): SsrMiddleware;

declare global {
  namespace Express {
    interface Response {
      /** Streams a full HTML page with the rendered component (from @ssr-pool/client's ssrMiddleware). */
      renderSSR: RenderSSR;
    }
  }
}

// ---------------------------------------------------------------- markup

/** Escapes text for HTML text and quoted attributes. */
export function escapeHtml(value: unknown): string;
/** Escapes <, >, &, U+2028 and U+2029 in JSON text for a <script> element. */
export function escapeJsonForScript(json: string): string;
export function wrapHtml(parts: { component: string; id: string; html: string; propsJson: string }): string;
export function placeholderHtml(parts: { component: string; id: string; propsJson: string; reason?: string }): string;
