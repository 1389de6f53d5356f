import type { ComponentType } from "react";

export interface RegisterOptions {
  /**
   * Stream the HTML: render with `renderToReadableStream` (the shell first,
   * then each `<Suspense>` boundary as its data arrives), aborted by the
   * render's signal at its deadline. Default `false`: `renderToString`.
   */
  stream?: boolean;
}

/**
 * Registers `Component` with the SSR service's runtime under `name`; the
 * service renders it with `renderToString(createElement(Component, props))`,
 * or streams it with `renderToReadableStream` when `options.stream` is set.
 * Returns `Component`.
 */
export function registerComponent<P>(
  name: string,
  Component: ComponentType<P>,
  options?: RegisterOptions,
): ComponentType<P>;

/** Registers every entry of `{Name: Component}`, each with `options`. */
export function registerComponents(
  components: Record<string, ComponentType<any>>,
  options?: RegisterOptions,
): void;
