// Server entry: registers every page with the SSR runtime.
import { registerComponents } from "@ssr-pool/react";
import { PAGES, STREAMED_PAGES } from "./pages/index.js";

registerComponents(PAGES);
registerComponents(STREAMED_PAGES, { stream: true });
