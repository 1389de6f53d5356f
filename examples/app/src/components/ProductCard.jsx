import { Price } from "./Price.jsx";
import { Rating } from "./Rating.jsx";

export function ProductCard({ product }) {
  const soldOut = product.stock === 0;
  return (
    <article className={soldOut ? "product-card sold-out" : "product-card"} data-product={product.id}>
      <a href={`/p/${product.id}`}>
        <img src={`/images/${product.id}.webp`} alt={product.name} width={240} height={180} loading="lazy" />
        <h3>{product.name}</h3>
      </a>
      <Price value={product.price} percentOff={product.percentOff} />
      <Rating value={product.rating} count={product.reviews} />
      <button type="button" disabled={soldOut}>
        {soldOut ? "Sold out" : "Add to cart"}
      </button>
    </article>
  );
}
