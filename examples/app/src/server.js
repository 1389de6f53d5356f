// Server entry: registers every page with the SSR runtime.
import { registerComponents } from "@ssr-pool/react";
import { PAGES } from "./pages/index.js";

registerComponents(PAGES);
