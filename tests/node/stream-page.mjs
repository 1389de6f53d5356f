// The streaming page (tests/fixtures/src/stream-page.jsx) as Node itself
// runs it, with Node's own streams: the reference streamed renders must
// match.
import { loadFixtureModule } from "./fixture-module.mjs";

/** Imports stream-page.jsx for Node: `{renderStream, renderHeaders, ...}`. */
export const loadStreamPage = () => loadFixtureModule("stream-page.jsx");
