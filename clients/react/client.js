// Browser side: hydrate the placeholders written by @ssr-pool/client.

import { createElement } from "react";
import { createRoot, hydrateRoot } from "react-dom/client";
import { createHydrator } from "./hydrator.js";

const hydrator = createHydrator({ createElement, createRoot, hydrateRoot });

/** Hydrates (or client-renders) every placeholder of component `name`. */
export const hydrate = hydrator.hydrate;

/** Hydrates every placeholder whose component is in `registry`. */
export const hydrateAll = hydrator.hydrateAll;

/** The props serialized next to a placeholder element. */
export const readProps = hydrator.readProps;

export { createHydrator };
