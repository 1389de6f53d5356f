// Every page the service renders and the browser hydrates, by name.
import { Home } from "./Home.jsx";
import { Product } from "./Product.jsx";
import { Cart } from "./Cart.jsx";

export const PAGES = { Home, Product, Cart };
