#!/usr/bin/env node
// The `UrlCases` probe of tests/fixtures/src/fetch-probes.js run with Node's
// own URL: the reference for the service's URL (the `url` crate behind it).
//
//   node tests/node/url-reference.mjs --props '{"cases": [...]}'
import { urlCases } from "../fixtures/src/fetch-probes.js";

const flag = process.argv.indexOf("--props");
process.stdout.write(urlCases(JSON.parse(process.argv[flag + 1])));
