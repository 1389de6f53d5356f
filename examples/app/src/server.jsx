// Server entry: registers every page with the SSR runtime.
import { renderToString } from "react-dom/server";
import { Home } from "./pages/Home.jsx";
import { Product } from "./pages/Product.jsx";
import { Cart } from "./pages/Cart.jsx";

const PAGES = { Home, Product, Cart };

for (const [name, Page] of Object.entries(PAGES)) {
  SsrPool.register(name, (props) => renderToString(<Page {...props} />));
}
