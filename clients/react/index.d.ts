import type { ComponentType } from "react";

/**
 * Registers `Component` with the SSR service's runtime under `name`; the
 * service renders it with `renderToString(createElement(Component, props))`.
 * Returns `Component`.
 */
export function registerComponent<P>(name: string, Component: ComponentType<P>): ComponentType<P>;

/** Registers every entry of `{Name: Component}`. */
export function registerComponents(components: Record<string, ComponentType<any>>): void;
