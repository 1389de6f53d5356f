import { Layout } from "../components/Layout.jsx";
import { Breadcrumbs } from "../components/Breadcrumbs.jsx";
import { Price } from "../components/Price.jsx";
import { Rating } from "../components/Rating.jsx";
import { ReviewList } from "../components/ReviewList.jsx";
import { ProductGrid } from "../components/ProductGrid.jsx";
import { CATEGORIES, PRODUCTS, REVIEWS, findProduct } from "../lib/catalog.js";
import { shopFromProps } from "../lib/shop-context.js";
import { formatNumber } from "../lib/format.js";

// Props (all optional): id (a catalog id) or product (a full product object),
// reviews, related, plus the shop props (locale, currency, user, ...).
export function Product(props) {
  const product = productOf(props);
  return (
    <ProductPage props={props} product={product}>
      <ReviewList reviews={reviewsOf(props, product)} />
    </ProductPage>
  );
}

export function productOf(props) {
  return props.product ?? findProduct(props.id) ?? PRODUCTS[0];
}

export function reviewsOf(props, product) {
  return props.reviews ?? REVIEWS[product.id] ?? [];
}

// The product page with `children` in its reviews section, shared with
// ProductStreamed, which streams that section.
export function ProductPage({ props, product, children }) {
  const shop = shopFromProps(props);
  const related =
    props.related ?? PRODUCTS.filter((p) => p.category === product.category && p.id !== product.id);
  const category = CATEGORIES.find((c) => c.slug === product.category);
  return (
    <Layout shop={shop} categories={CATEGORIES} activeCategory={product.category}>
      <Breadcrumbs
        trail={[
          { href: "/", label: "Home" },
          { href: `/c/${product.category}`, label: category ? category.name : product.category },
          { href: `/p/${product.id}`, label: product.name },
        ]}
      />
      <article className="product-detail" data-product={product.id}>
        <img src={`/images/${product.id}.webp`} alt={product.name} width={640} height={480} />
        <div className="summary">
          <h1>{product.name}</h1>
          <Rating value={product.rating} count={product.reviews} />
          <Price value={product.price} percentOff={product.percentOff} />
          <p className="description">{product.description}</p>
          <p className="stock">
            {product.stock > 0
              ? `${formatNumber(product.stock, shop.locale)} in stock`
              : "Currently out of stock"}
          </p>
          <button type="button" disabled={product.stock === 0}>
            Add to cart
          </button>
        </div>
      </article>
      <section className="reviews-section">
        <h2>Reviews</h2>
        {children}
      </section>
      {related.length > 0 ? <ProductGrid title="You may also like" products={related} /> : null}
    </Layout>
  );
}
