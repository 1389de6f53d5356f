import { useMemo } from "react";
import { ProductCard } from "./ProductCard.jsx";

const SORTERS = {
  featured: null,
  "price-asc": (a, b) => a.price - b.price,
  "price-desc": (a, b) => b.price - a.price,
  rating: (a, b) => b.rating - a.rating,
};

export function ProductGrid({ title, products, sort = "featured" }) {
  const sorted = useMemo(() => {
    const compare = SORTERS[sort] ?? null;
    return compare ? [...products].sort(compare) : products;
  }, [products, sort]);
  return (
    <section className="product-grid">
      <h2>{title}</h2>
      {sorted.length === 0 ? (
        <p className="empty">No products found.</p>
      ) : (
        <div className="grid">
          {sorted.map((product) => (
            <ProductCard key={product.id} product={product} />
          ))}
        </div>
      )}
    </section>
  );
}
