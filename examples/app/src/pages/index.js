// Every page the service renders, by name.
import { Home } from "./Home.jsx";
import { Product } from "./Product.jsx";
import { ProductStreamed } from "./ProductStreamed.jsx";
import { Cart } from "./Cart.jsx";

// Rendered whole (renderToString); the browser bundle hydrates these.
export const PAGES = { Home, Product, Cart };

// Streamed (renderToReadableStream). Server only: hydrating would replay the
// reviews' wait in the browser.
export const STREAMED_PAGES = { ProductStreamed };
