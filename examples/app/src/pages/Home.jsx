import { Layout } from "../components/Layout.jsx";
import { Hero } from "../components/Hero.jsx";
import { ProductGrid } from "../components/ProductGrid.jsx";
import { CATEGORIES, PRODUCTS } from "../lib/catalog.js";
import { shopFromProps } from "../lib/shop-context.js";

const DEFAULT_HERO = {
  title: "Things for a calmer home",
  subtitle: "Free shipping on orders over 50 — this week only.",
  cta: { href: "/c/textiles", label: "Shop textiles" },
};

// Props (all optional): locale, currency, user, cartCount, storeName,
// hero, categories, products, sort ("featured" | "price-asc" | "price-desc" | "rating").
export function Home(props) {
  const shop = shopFromProps(props);
  const products = props.products ?? PRODUCTS;
  const onSale = products.filter((p) => p.percentOff > 0);
  return (
    <Layout shop={shop} categories={props.categories ?? CATEGORIES}>
      <Hero {...(props.hero ?? DEFAULT_HERO)} />
      {onSale.length > 0 ? <ProductGrid title="On sale" products={onSale} sort="price-asc" /> : null}
      <ProductGrid title="All products" products={products} sort={props.sort} />
    </Layout>
  );
}
