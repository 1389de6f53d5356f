import { useShop } from "../lib/shop-context.js";
import { formatDate } from "../lib/format.js";
import { Rating } from "./Rating.jsx";

export function ReviewList({ reviews }) {
  const { locale } = useShop();
  if (reviews.length === 0) return <p className="no-reviews">No reviews yet.</p>;
  return (
    <ul className="reviews">
      {reviews.map((review) => (
        <li key={review.id}>
          <Rating value={review.rating} />
          <strong>{review.author}</strong>
          <time dateTime={review.date}>{formatDate(review.date, locale)}</time>
          <p>{review.text}</p>
        </li>
      ))}
    </ul>
  );
}
