import type { Hydrator } from "./hydrator.js";

export type { HydrateOptions, HydrateErrorInfo, MountedRoot, Hydrator } from "./hydrator.js";
export { createHydrator } from "./hydrator.js";

/** Hydrates (or client-renders) every placeholder of component `name`. */
export const hydrate: Hydrator["hydrate"];
/** Hydrates every placeholder whose component is in `registry`. */
export const hydrateAll: Hydrator["hydrateAll"];
/** The props serialized next to a placeholder element. */
export const readProps: Hydrator["readProps"];
