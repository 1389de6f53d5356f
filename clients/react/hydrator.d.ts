import type { ComponentType, ReactElement } from "react";
import type { HydrationOptions, Root, RootOptions } from "react-dom/client";

export interface MountedRoot {
  /** The placeholder's data-ssr-id. */
  id: string;
  /** The placeholder's data-ssr-component. */
  component: string;
  element: Element;
  root: Root;
  /** "hydrate": server HTML hydrated; "render": fallback placeholder rendered with createRoot. */
  mode: "hydrate" | "render";
}

export interface HydrateErrorInfo {
  component: string;
  id: string | null;
  element: Element;
}

export interface HydrateOptions extends HydrationOptions, RootOptions {
  /** Where to look for placeholders (default: document). */
  scope?: ParentNode;
  /** Called when a placeholder cannot be mounted (default: console.error). */
  onError?: (error: unknown, info: HydrateErrorInfo) => void;
}

export interface Hydrator {
  hydrate<P>(name: string, Component: ComponentType<P>, options?: HydrateOptions): MountedRoot[];
  hydrateAll(
    registry: Record<string, ComponentType<any>> | Map<string, ComponentType<any>>,
    options?: HydrateOptions,
  ): MountedRoot[];
  /** The props serialized next to a placeholder element. */
  readProps(element: Element): unknown;
}

export function createHydrator(react: {
  createElement: (type: any, props?: any) => ReactElement;
  hydrateRoot: (container: Element, children: ReactElement, options?: HydrationOptions) => Root;
  createRoot: (container: Element, options?: RootOptions) => Root;
}): Hydrator;
