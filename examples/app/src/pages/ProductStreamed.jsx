import { Suspense, use, useState } from "react";
import { ReviewList } from "../components/ReviewList.jsx";
import { ProductPage, productOf, reviewsOf } from "./Product.jsx";

// The product page, streamed: the page goes out with a placeholder where the
// reviews go, and the reviews follow in the same response once their data
// arrives, reviewsDelayMs (default 30) after the render starts, as from a
// slow review service.
//
// Props: those of Product, plus reviewsDelayMs.
export function ProductStreamed(props) {
  const product = productOf(props);
  // One request per render, made above the boundary: the suspended Reviews
  // is rendered again when the data arrives and must find the same promise.
  const [reviews] = useState(() => later(reviewsOf(props, product), props.reviewsDelayMs ?? 30));
  return (
    <ProductPage props={props} product={product}>
      <Suspense fallback={<p className="loading">Loading reviews…</p>}>
        <Reviews reviews={reviews} />
      </Suspense>
    </ProductPage>
  );
}

function Reviews({ reviews }) {
  return <ReviewList reviews={use(reviews)} />;
}

function later(value, ms) {
  return new Promise((resolve) => setTimeout(() => resolve(value), ms));
}
