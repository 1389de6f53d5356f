import { ShopContext } from "../lib/shop-context.js";
import { Header } from "./Header.jsx";
import { NavBar } from "./NavBar.jsx";
import { Footer } from "./Footer.jsx";

export function Layout({ shop, categories, activeCategory, children }) {
  return (
    <ShopContext value={shop}>
      <div className="page">
        <Header />
        <NavBar categories={categories} active={activeCategory} />
        <main className="content">{children}</main>
        <Footer />
      </div>
    </ShopContext>
  );
}
