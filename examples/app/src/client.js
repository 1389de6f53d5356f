// Browser entry: hydrates the pages the server rendered (and renders the
// placeholders the render client left when the service was unavailable).
import { hydrateAll } from "@ssr-pool/react/client";
import { PAGES } from "./pages/index.js";

hydrateAll(PAGES);
