// Test helper: serve a request handler (an Express app, say) over HTTP on a
// free local port.

import http from "node:http";

/**
 * Listens with `handler` on 127.0.0.1 and a free port.
 * Returns {url, close()}; close() also ends keep-alive connections, so it
 * does not wait for idle clients.
 */
export async function listen(handler) {
  const httpServer = http.createServer(handler);
  await new Promise((resolve) => httpServer.listen(0, "127.0.0.1", resolve));
  return {
    url: `http://127.0.0.1:${httpServer.address().port}`,
    close: () =>
      new Promise((resolve) => {
        httpServer.closeAllConnections?.();
        httpServer.close(resolve);
      }),
  };
}
